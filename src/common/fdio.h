/* Whole writes to a descriptor. */
#ifndef PUNCH_FDIO_H
#define PUNCH_FDIO_H

#include <stddef.h>

/* Write all len bytes of buf to fd, again after EINTR and short writes.
 * Returns 0, or -errno (-EIO for a write of nothing). A non-blocking fd that
 * is full fails with -EAGAIN: this is for pipes and sockets that are read. */
int fd_write_all(int fd, const void *buf, size_t len);

#endif
