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

/* --predict (client/predict.h): what the lab's expected-outcome model
 * (lab/model/outcome.c) must assume when a topology leaves them out. */
#define CLIENT_PREDICT_SEQ_PORTS 8    /* sequential: the next 8 ports */
#define CLIENT_PREDICT_BDAY_PORTS 256 /* birthday: 256 each way, 64% over 1024-65535 */
#define CLIENT_PREDICT_RATE 200       /* prediction probes per second */
#define CLIENT_PREDICT_LO 1024        /* the partner NAT's port range birthday draws from */
#define CLIENT_PREDICT_HI 65535

#endif
