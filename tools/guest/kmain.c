/* Ring-0 part of the vmrun built-in guest: descriptor tables, the PIC, the
 * exception reporter, then iretq into ring 3 (user.c). This code is emulated instruction by
 * instruction on this host's KVM, so it does as little as possible; parsing the command line,
 * programming the PIT and every workload happen in ring 3. */
#include <stdint.h>
#include "vmrun/guest_abi.h"
#include "kern.h"
#include "sys.h"

struct tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

/* The TSS with an all-zero I/O permission bitmap: ring 3 may use every port. IOPL=3 alone is
 * not enough on this host: its KVM (PVM) does not keep a guest's IOPL in ring 3, but its
 * emulator honours the TSS bitmap when a ring-3 in/out traps. */
struct tss_io {
    struct tss tss;
    uint8_t iomap[65536 / 8];
    uint8_t iomap_end; /* 0xff: the bitmap must be followed by a byte of ones */
} __attribute__((packed));

struct idt_gate {
    uint16_t off_lo;
    uint16_t sel;
    uint8_t ist;
    uint8_t type;
    uint16_t off_mid;
    uint32_t off_hi;
    uint32_t reserved;
};

struct dtr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

/* What exc_common passes to exception_handler(). */
struct trap_frame {
    uint64_t vec, err, rip, cs, rflags, rsp, ss;
};

/* Defined in entry.S. */
extern char exc_stubs[], exc_ud[], timer_isr[], irq_ignore[], kstack_top[], ustack_top[];
void load_segments(void);
__attribute__((noreturn)) void enter_user(uint64_t rip, uint64_t rsp, uint64_t arg);
/* Ring-3 entry point (user.c). */
__attribute__((noreturn)) void umain(uint64_t boot_params);

volatile uint64_t guest_ticks;
/* In .data, not .bss: pvh_setup() sets it before _start zeroes .bss. */
__attribute__((section(".data"))) volatile uint32_t guest_pvh_boot;

static uint64_t gdt[GDT_ENTRIES] = {
    [SEL_KCODE / 8] = 0x00af9a000000ffffull,        /* 64-bit code, DPL 0 */
    [SEL_KDATA / 8] = 0x00cf92000000ffffull,        /* data, DPL 0 */
    [(SEL_UDATA & ~3) / 8] = 0x00cff2000000ffffull, /* data, DPL 3 */
    [(SEL_UCODE & ~3) / 8] = 0x00affa000000ffffull, /* 64-bit code, DPL 3 */
};
static struct tss_io tss;
static struct idt_gate idt[IDT_ENTRIES];

void kputc(char c)
{
    for (int i = 0; i < 1000 && !(inb(ABI_COM1_PORT + 5) & 0x20); i++)
        ;
    outb(ABI_COM1_PORT, (uint8_t)c);
}

void kputs(const char *s)
{
    while (*s)
        kputc(*s++);
}

void kputhex(uint64_t v)
{
    int shift = 60;
    kputs("0x");
    while (shift > 0 && !(v >> shift))
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        kputc("0123456789abcdef"[(v >> shift) & 0xf]);
}

void kputdec(uint64_t v)
{
    char buf[24];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        kputc(buf[--n]);
}

/* Called from exc_common with the frame the CPU and the stub built; reports and powers off. */
__attribute__((noreturn, used)) void exception_handler(const struct trap_frame *f)
{
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    kputs("\nvmrun guest: exception ");
    kputdec(f->vec);
    kputs(" err=");
    kputhex(f->err);
    kputs(" rip=");
    kputhex(f->rip);
    kputs(" cr2=");
    kputhex(cr2);
    kputs(" cs=");
    kputhex(f->cs);
    kputs(" rflags=");
    kputhex(f->rflags);
    kputs(" rsp=");
    kputhex(f->rsp);
    kputc('\n');
    kexit(EXIT_EXCEPTION);
}

/* Power off from ring 0: vmrun's exit port, then (PVH boot) QEMU's (sys.h). */
void kexit(uint32_t code)
{
    outl(ABI_EXIT_PORT, code);
    if (guest_pvh_boot)
        outl(QEMU_EXIT_PORT, code);
    for (;;)
        __asm__ volatile("cli; hlt");
}

static void set_gate(int vec, const void *handler)
{
    uint64_t a = (uint64_t)handler;
    idt[vec] = (struct idt_gate){
        .off_lo = (uint16_t)a,
        .sel = SEL_KCODE,
        .ist = 0,
        .type = 0x8e, /* present, DPL 0, 64-bit interrupt gate */
        .off_mid = (uint16_t)(a >> 16),
        .off_hi = (uint32_t)(a >> 32),
    };
}

static void setup_descriptors(void)
{
    uint64_t base = (uint64_t)&tss;
    uint64_t limit = sizeof(tss) - 1;
    struct dtr gdtr = {sizeof(gdt) - 1, (uint64_t)gdt};
    struct dtr idtr = {sizeof(idt) - 1, (uint64_t)idt};

    tss.tss.rsp[0] = (uint64_t)kstack_top;
    tss.tss.iomap_base = sizeof(tss.tss);
    tss.iomap_end = 0xff;
    /* 64-bit available TSS, present, DPL 0. */
    gdt[SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
                       ((limit >> 16) << 48) | (((base >> 24) & 0xff) << 56);
    gdt[SEL_TSS / 8 + 1] = base >> 32;

    for (int v = 0; v < 32; v++)
        set_gate(v, exc_stubs + 16 * v);
    set_gate(6, exc_ud); /* the system call gate */
    set_gate(VEC_PIC_MASTER, timer_isr);
    for (int v = VEC_PIC_MASTER + 1; v < IDT_ENTRIES; v++)
        set_gate(v, irq_ignore);

    __asm__ volatile("lgdt %0" : : "m"(gdtr) : "memory");
    load_segments();
    __asm__ volatile("ltr %w0" : : "r"(SEL_TSS));
    __asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

/* Remap the 8259 pair to 0x20/0x28 with every line masked; ring 3 unmasks IRQ0 once it has
 * programmed the PIT. */
static void setup_pic(void)
{
    outb(0x20, 0x11); /* ICW1: edge, cascade, ICW4 */
    outb(0xa0, 0x11);
    outb(0x21, VEC_PIC_MASTER);
    outb(0xa1, VEC_PIC_SLAVE);
    outb(0x21, 0x04); /* slave on IRQ2 */
    outb(0xa1, 0x02);
    outb(0x21, 0x01); /* ICW4: 8086 mode */
    outb(0xa1, 0x01);
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

__attribute__((noreturn)) void kmain(uint64_t boot_params)
{
    setup_descriptors();
    setup_pic();
    enter_user((uint64_t)umain, (uint64_t)ustack_top, boot_params);
}
