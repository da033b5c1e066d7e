/* The exit port, a minimal i8042 and an absent PCI bus: enough for the built-in guest to power
 * off with a code and for Linux to probe these and reboot with reboot=k. */
#include "vmrun/sysdev.h"

#include "vmrun/bus.h"
#include "vmrun/guest_abi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define I8042_DATA_PORT 0x60
#define PCI_CONFIG_PORT 0xcf8
#define PCI_CONFIG_LEN 8

struct sysdev {
    struct sysdev_host host;
};

static void exit_port_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct sysdev *s = opaque;
    if (!is_write) {
        memset(data, 0, len);
        return;
    }
    if (off != 0)
        return;
    uint32_t code = 0;
    memcpy(&code, data, len < sizeof(code) ? len : sizeof(code));
    s->host.power_off(s->host.ctx, (int)(code & 0xff));
}

/* Data and status read as "no data, input buffer empty", so Linux's probe neither hangs nor
 * finds a keyboard; writes to the data port are dropped. */
static void i8042_data_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    (void)opaque;
    (void)off;
    if (!is_write)
        memset(data, 0, len);
}

static void i8042_cmd_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct sysdev *s = opaque;
    if (!is_write) {
        memset(data, 0, len);
        return;
    }
    if (off == 0 && data[0] == ABI_I8042_RESET)
        s->host.power_off(s->host.ctx, 0);
}

/* No PCI host bridge: config-space reads float high, which is how Linux learns there is no PCI.
 * Claiming the ports keeps its probe out of the unhandled-access log. */
static void pci_absent_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    (void)opaque;
    (void)off;
    if (!is_write)
        memset(data, 0xff, len);
}

int sysdev_create(struct bus *pio, const struct sysdev_host *host, struct sysdev **out)
{
    if (!host || !host->power_off)
        return -EINVAL;
    struct sysdev *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->host = *host;
    int err = bus_register(pio, ABI_EXIT_PORT, 4, exit_port_io, s);
    if (!err)
        err = bus_register(pio, I8042_DATA_PORT, 1, i8042_data_io, s);
    if (!err)
        err = bus_register(pio, ABI_I8042_CMD_PORT, 1, i8042_cmd_io, s);
    if (!err)
        err = bus_register(pio, PCI_CONFIG_PORT, PCI_CONFIG_LEN, pci_absent_io, s);
    if (err) {
        free(s);
        return err;
    }
    *out = s;
    return 0;
}

void sysdev_destroy(struct sysdev *s)
{
    free(s);
}
