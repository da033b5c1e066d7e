/* Power control: the vmrun exit port and the i8042 reset line. */
#ifndef VMRUN_SYSDEV_H
#define VMRUN_SYSDEV_H

struct bus;
struct sysdev;

/* Who is told when the guest powers off or resets. */
struct sysdev_host {
    void (*power_off)(void *ctx, int code); /* exit port write, or i8042 reset as code 0 */
    void *ctx;
};

/* Create the device and register the exit port and i8042 ports on the port-I/O bus. */
int sysdev_create(struct bus *pio, const struct sysdev_host *host, struct sysdev **out);
/* Free the device (the bus must be gone or unused by then); NULL is allowed. */
void sysdev_destroy(struct sysdev *s);

#endif
