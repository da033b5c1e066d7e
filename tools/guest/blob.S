/* The guest ELF embedded into vmrun (include/vmrun/guest.h). GUEST_ELF_PATH comes from CMake. */
    .section .rodata
    .balign 16
    .globl vmrun_guest_image
    .type vmrun_guest_image, @object
vmrun_guest_image:
    .incbin GUEST_ELF_PATH
vmrun_guest_image_end:
    .size vmrun_guest_image, vmrun_guest_image_end - vmrun_guest_image

    .balign 8
    .globl vmrun_guest_image_size
    .type vmrun_guest_image_size, @object
vmrun_guest_image_size:
    .quad vmrun_guest_image_end - vmrun_guest_image
    .size vmrun_guest_image_size, 8

    .section .note.GNU-stack, "", @progbits
