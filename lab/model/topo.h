/* Topology files: parse an INI topology (topologies/README.md is the format
 * reference) into the model of model.h, and describe a model for humans.
 *
 * Pure apart from reading the file itself and checking that a `rules = FILE`
 * lies in the topology's tree (rulesfile.h), exists, is a regular file and
 * is not too large (nothing of it is opened here): no kernel state, no logging. Every error comes back as one line
 * "file:line: what is wrong" in the caller's buffer.
 */
#ifndef PUNCH_TOPO_H
#define PUNCH_TOPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model/model.h"

#define TOPO_NAME_LEN MODEL_NAME_LEN
#define TOPO_MAX_NATS 32        /* [nat] sections in one file */
#define TOPO_MAX_FILE (1 << 20) /* larger files are refused, not read */

/* Parse the topology file at path. Returns 0 and a new graph in *out (free it
 * with topo_free), or -errno with *out = NULL and err = "path:line: message":
 * -EINVAL for a bad file, -EFBIG for one over TOPO_MAX_FILE, or the error of
 * opening or reading it. err may be NULL. */
int topo_parse_file(const char *path, struct topo **out, char *err, size_t errsize);

/* Parse len bytes of text (need not be NUL-terminated). name is used in
 * messages and as topo.path; `rules = FILE` is resolved relative to the
 * directory part of name. Returns as topo_parse_file(). */
int topo_parse_buffer(const char *name, const char *text, size_t len, struct topo **out,
		      char *err, size_t errsize);

/* Free a graph from the parser, NULL included. */
void topo_free(struct topo *t);

/* The behaviour of a preset (or one of its aliases, see the README), with
 * nat = whether it translates addresses. Returns 0 or -ENOENT. */
int topo_preset(const char *name, struct nat_behavior *b, bool *nat);

/* Names of enum values, exactly as the file format spells them. Never NULL:
 * an out-of-range value gives "?". topo_outcome_name(OUTCOME_UNSET) is "unset". */
const char *topo_outcome_name(enum outcome o);
const char *topo_mode_name(enum client_mode m);

/* "direct", "relayed" or "failed" (any case) to the enum. Returns 0 or -EINVAL. */
int topo_outcome_parse(const char *s, enum outcome *o);

/* Write a human description of what t will build: the lab settings, each
 * router with its full behaviour and who sits behind what, as a tree from the
 * internet down. Returns 0 or -EIO when the stream reports an error. */
int topo_describe(const struct topo *t, FILE *out);

/* The clients' timers in a lab without delay, loss or start-delay, where
 * the file leaves them at the client's defaults (3 s before relaying, 10 s
 * before failing): there a direct path forms within milliseconds of the
 * introduction (11 ms at most over the shipped set) and a relayed exchange
 * within tens of them, so the defaults would only wait for nothing. */
#define TOPO_LAB_PUNCH_MS 1000    /* before relaying */
#define TOPO_LAB_EXCHANGE_MS 3000 /* after that, before failing */

/* The ports (easy side) or sockets (hard side) t's predicting clients use:
 * predict-ports, else the client's default for the method; 0 without predict. */
unsigned topo_predict_ports(const struct topo *t);

/* How long the prediction probes of t's clients take at the client's rate
 * (CLIENT_PREDICT_RATE): the two passes of its budget. 0 without predict.
 * The lab's own punch timeout (below) adds it, so that the whole budget
 * goes out before a client relays. */
uint32_t topo_predict_ms(const struct topo *t);

/* The punch timeout and the time limit t's clients get: the file's, or in a
 * lab without delay, loss or start-delay, for what the file leaves out, the
 * lab's own above. */
void topo_client_timeouts(const struct topo *t, uint32_t *punch_ms, uint32_t *limit_ms);

#endif
