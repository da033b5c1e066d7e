/* The built-in guest, an ELF64 image linked into the vmrun binary. */
#ifndef VMRUN_GUEST_H
#define VMRUN_GUEST_H

#include <stddef.h>

/* Bytes of the embedded guest ELF. */
extern const unsigned char vmrun_guest_image[];
/* Length of vmrun_guest_image. */
extern const size_t vmrun_guest_image_size;

#endif
