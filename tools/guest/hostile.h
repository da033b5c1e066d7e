/* Private to workload=hostile (hostile*.c): the buffers the cases share and the helpers that
 * post a request and check the device's reaction. Single-threaded ring-3 guest code. */
#ifndef VMRUN_GUEST_HOSTILE_H
#define VMRUN_GUEST_HOSTILE_H

#include "blk.h"

#define MIB (1024ul * 1024)
#define BAD_GPA (1ull << 46) /* far beyond any guest RAM vmrun gives */
#define WRAP_GPA 0xffffffffffffff00ull
#define FILL 0xff
#define STALL_MS 50 /* how long a stalled queue must stay silent */
#define NEEDS_RESET_MS 500

extern char g_why[VIRTIO_ERR_LEN + 120]; /* why the current case failed */
extern uint8_t *g_table;                 /* 4 KiB: indirect tables */
extern uint8_t *g_data;                  /* 64 KiB: data buffers */
extern uint8_t *g_batch;                 /* 64 KiB: full-ring headers, statuses, tables, buffers */
extern uint8_t *g_big;                   /* (capacity + 1) sectors, or NULL if RAM is short */
extern uint32_t g_ovf_seg;               /* len-overflow: bytes per data descriptor */
extern uint64_t g_ram_top;               /* end of the highest e820 RAM entry */

/* Record why the current case failed; returns false. The arguments may include the reason
 * recorded before (to add context to a failure reported deeper down). */
__attribute__((format(printf, 1, 2))) bool why(const char *fmt, ...);
const char *st_name(uint8_t s);
volatile struct virtq_desc *ring_desc(struct blk *b, unsigned i);
volatile struct virtq_desc *table_desc(unsigned i);
/* Fresh request header (type, sector) in the scratch page; status byte set to FILL. */
uint64_t hdr(struct blk *b, uint32_t type, uint64_t sector);
uint64_t status_addr(struct blk *b);
uint8_t status_byte(struct blk *b);
/* Post head 0, wait for its completion. */
bool submit(struct blk *b, uint32_t max_write, uint32_t *len);
bool untouched(const volatile uint8_t *p, uint64_t n, const char *what);
/* The chain at head 0 is structurally invalid: used len 0, status byte and data untouched. */
bool expect_dropped(struct blk *b, uint32_t max_write, const volatile uint8_t *data,
                    uint64_t data_len);
/* The chain at head 0 is a bad request: the status byte must read want. */
bool expect_status(struct blk *b, uint32_t max_write, uint8_t want);
/* hdr -> data (len bytes at addr, device-writable) -> status: an IN request. */
void in_chain(struct blk *b, uint64_t sector, uint64_t addr, uint32_t len);
bool need_indirect(struct blk *b);
/* Write sector s with the pattern and read it back; the device must work normally. */
bool valid_io(struct blk *b, uint64_t s, enum blk_layout lay);

/* The cases: true when the device reacted as the contract says; false with why() set. */
bool case_bad_addr(struct blk *b);
bool case_bad_addr_end(struct blk *b);
bool case_addr_wrap(struct blk *b);
bool case_loop(struct blk *b);
bool case_too_long(struct blk *b);
bool case_nested_indirect(struct blk *b);
bool case_indirect_len(struct blk *b);
bool case_order(struct blk *b);
bool case_bad_next(struct blk *b);
bool case_oversized(struct blk *b);
bool case_len_overflow(struct blk *b);
bool case_beyond_end(struct blk *b);
bool case_sector_overflow(struct blk *b);
bool case_short_header(struct blk *b);
bool case_bad_type(struct blk *b);
bool case_unaligned_len(struct blk *b);
bool case_no_status(struct blk *b);
bool case_still_works(struct blk *b);
bool case_full_ring(struct blk *b);
bool case_bad_head(struct blk *b);
bool case_idx_jump(struct blk *b);

#endif
