/* What punch-client does when not told otherwise. One place for them: the
 * state machine (punch_config_defaults()), the client's options and --help,
 * and the lab's topology parser, whose [lab] section means "the client's own
 * defaults" for a key it leaves out. */
#ifndef PUNCH_CLIENT_DEFAULTS_H
#define PUNCH_CLIENT_DEFAULTS_H

#define CLIENT_MESSAGES 5             /* DATA messages each way */
#define CLIENT_PUNCH_TIMEOUT_MS 3000  /* from the introduction to relaying */
#define CLIENT_TIMEOUT_MS 10000       /* from start to failing */
#define CLIENT_PROBE_MIN_MS 50        /* first probe interval */
#define CLIENT_PROBE_MAX_MS 200       /* the interval grows to this */
#define CLIENT_RTO_MS 250             /* first DATA retransmission timeout */
#define CLIENT_LINGER_MS 1000         /* answering after BYE */

#endif
