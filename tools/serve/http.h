/* http.h - the HTTP side of `g4 serve`, on libmicrohttpd.
 *
 * One thread per connection (libmicrohttpd's): it reads the request (a body larger than
 * max_body is refused with 413), hands it to serve_prepare (request.h), and either
 * answers at once or submits a job to the scheduler and sends what the job produces:
 * the whole answer when it is done, or each piece as a server-sent event as it comes.
 * While it waits it looks at its socket every 200 ms, so a client that went away
 * cancels its job and frees the slot even when no byte is being sent. Connections idle
 * for `timeout_s` (a slow or stalled client) are closed by libmicrohttpd. */
#ifndef G4_SERVE_HTTP_H
#define G4_SERVE_HTTP_H

#include "request.h"
#include "sched.h"

#include <stddef.h>

typedef struct http_params {
    const char *host;            /* address or name to listen on */
    int port;                    /* 0: any free port (http_port says which) */
    unsigned max_connections;
    size_t max_body;             /* bytes */
    unsigned timeout_s;          /* idle connection timeout */
    const serve_config *cfg;     /* borrowed, outlives the server */
    sched *sc;                   /* borrowed */
    const char *model;           /* the served model's name (borrowed) */
    bool quiet;                  /* no log line per failed request */
} http_params;

typedef struct http_server http_server;

/* Starts listening. False with a message in err. */
bool http_start(http_server **out, const http_params *p, char *err, size_t errlen);
int http_port(const http_server *h);
/* Stops accepting connections; the open ones go on. */
void http_quiesce(http_server *h);
/* Waits (up to max_ms) until no request is being read or answered: after the scheduler
 * has ended every job, this lets each answer (or its error event) reach its client. */
void http_drain(http_server *h, int max_ms);
/* Closes every connection (after their waits see their jobs end) and frees. */
void http_stop(http_server *h);

#endif
