/* http.c - libmicrohttpd glue for `g4 serve` (see http.h). Nothing here parses HTTP or
 * JSON: libmicrohttpd reads the requests, serve_prepare judges them, the scheduler runs
 * them, encode.c writes the answers. */
#include "http.h"

#include "encode.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 200 /* how often a waiting connection looks whether its client is still there */

struct http_server {
    http_params p;
    struct MHD_Daemon *d;
    int listen_fd; /* after quiesce, closed after the daemon stops */
    int port;
    atomic_ullong ids;
    atomic_int in_flight; /* requests between their first byte and their last (NOTIFY_COMPLETED) */
};

/* A request being read. */
typedef struct conn {
    char *body;
    size_t len, cap;
    bool too_big;
} conn;

/* A streamed answer being sent. */
typedef struct stream {
    http_server *h;
    serve_job *job;
    struct MHD_Connection *c;
    encode_ctx ec;
    stream_cursor cur;
    char *buf;
    size_t len, off;
} stream;

/* ---- small helpers ---------------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type, char *text) {
    if (!text) {
        static char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
        text = strdup(oom);
        status = 500;
        if (!text) return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) { free(text); return MHD_NO; }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, char *json) {
    return send_text(c, status, "application/json", json);
}

static enum MHD_Result send_error(http_server *h, struct MHD_Connection *c, const char *method, const char *url, const serve_error *e) {
    if (!h->p.quiet) fprintf(stderr, "g4 serve: %s %s: %d %s\n", method, url, e->status, e->message);
    return send_json(c, (unsigned)e->status, encode_error(e));
}

/* True when the client closed its end (or the socket failed). */
static bool peer_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return true;
    struct pollfd pf = {.fd = ci->connect_fd, .events = POLLIN};
    if (poll(&pf, 1, 0) <= 0) return false;
    if (pf.revents & (POLLHUP | POLLERR | POLLNVAL)) return true;
    char b;
    ssize_t n = recv(pf.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT); /* 0: the client closed its end */
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Waits up to WAIT_MS on the job's condition (j->mu held). */
static void wait_a_little(serve_job *j) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += WAIT_MS * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

static void new_ctx(http_server *h, encode_ctx *ec, bool chat) {
    unsigned long long n = atomic_fetch_add(&h->ids, 1) + 1;
    unsigned long long x = (n + (unsigned long long)time(NULL) * 0x9e3779b97f4a7c15ull) * 0xbf58476d1ce4e5b9ull;
    snprintf(ec->id, sizeof ec->id, "%s-%016llx", chat ? "chatcmpl" : "cmpl", x ^ (x >> 29));
    ec->model = h->p.model;
    ec->created = (long long)time(NULL);
    ec->chat = chat;
}

/* ---- streaming ---------------------------------------------------------------------------- */

static bool has_news(const stream *s) {
    const serve_job *j = s->job;
    return j->done || !s->cur.began || j->rp.content.n > s->cur.content || j->rp.reasoning.n > s->cur.reasoning ||
           j->rp.n_calls > s->cur.calls;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream *s = cls;
    for (;;) {
        if (s->off < s->len) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(buf, s->buf + s->off, n);
            s->off += n;
            if (s->off == s->len) s->off = s->len = 0;
            return (ssize_t)n;
        }
        if (s->cur.ended) return MHD_CONTENT_READER_END_OF_STREAM;
        serve_job *j = s->job;
        pthread_mutex_lock(&j->mu);
        while (!has_news(s)) {
            wait_a_little(j);
            if (has_news(s)) break;
            pthread_mutex_unlock(&j->mu);
            if (peer_gone(s->c)) {
                sched_cancel(s->h->p.sc, j);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            pthread_mutex_lock(&j->mu);
        }
        bool ok = encode_stream(&s->ec, j, &s->cur, &s->buf, &s->len);
        pthread_mutex_unlock(&j->mu);
        if (!ok) {
            sched_cancel(s->h->p.sc, j);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

/* The response is gone (sent, or the connection died): a job still running is cancelled. */
static void stream_free(void *cls) {
    stream *s = cls;
    sched_cancel(s->h->p.sc, s->job);
    job_release(s->job);
    free(s->buf);
    free(s);
}

/* ---- generation requests ------------------------------------------------------------------ */

static enum MHD_Result run_job(http_server *h, struct MHD_Connection *c, const char *method, const char *url,
                               serve_request *req) {
    const bool chat = req->ep == SERVE_EP_CHAT, streaming = req->stream;
    serve_job *j = job_create(req);
    serve_error e;
    if (!j) {
        serve_request_free(req);
        serve_fail(&e, 500, "server_error", NULL, NULL, "out of memory");
        return send_error(h, c, method, url, &e);
    }
    if (!sched_submit(h->p.sc, j, &e)) {
        job_release(j);
        return send_error(h, c, method, url, &e);
    }
    if (streaming) {
        stream *s = calloc(1, sizeof *s);
        struct MHD_Response *r = s ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, s, stream_free) : NULL;
        if (!r) {
            free(s);
            sched_cancel(h->p.sc, j);
            job_release(j);
            return MHD_NO;
        }
        s->h = h;
        s->job = j; /* the HTTP side's reference, released by stream_free */
        s->c = c;
        new_ctx(h, &s->ec, chat);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    }
    /* not streamed: wait for the end, watching the client */
    pthread_mutex_lock(&j->mu);
    while (!j->done) {
        wait_a_little(j);
        if (j->done) break;
        pthread_mutex_unlock(&j->mu);
        if (peer_gone(c)) {
            sched_cancel(h->p.sc, j);
            job_release(j);
            return MHD_NO;
        }
        pthread_mutex_lock(&j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    enum MHD_Result ret;
    if (j->err.status) {
        ret = send_error(h, c, method, url, &j->err);
    } else {
        encode_ctx ec;
        new_ctx(h, &ec, chat);
        ret = send_json(c, MHD_HTTP_OK, encode_response(&ec, j));
    }
    job_release(j);
    return ret;
}

/* ---- the access handler ------------------------------------------------------------------ */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    http_server *h = cls;
    conn *st = *con_cls;
    serve_error e;
    if (!st) { /* headers are in; the body (if any) comes in the next calls */
        if (!(st = calloc(1, sizeof *st))) return MHD_NO;
        *con_cls = st;
        atomic_fetch_add(&h->in_flight, 1);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > h->p.max_body) {
            st->too_big = true;
            serve_fail(&e, 413, "invalid_request_error", "request_too_large", NULL,
                       "The request body is larger than this server's limit of %zu bytes.", h->p.max_body);
            return send_error(h, c, method, url, &e); /* answered before the body is read */
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (st->too_big) return MHD_YES;
        if (st->len + n > h->p.max_body) {
            st->too_big = true;
            free(st->body);
            st->body = NULL;
            st->len = st->cap = 0;
            return MHD_YES; /* read and dropped; answered once the body is over */
        }
        if (st->len + n > st->cap) {
            size_t cap = st->cap ? st->cap : 4096;
            while (cap < st->len + n) cap *= 2;
            if (cap > h->p.max_body) cap = h->p.max_body;
            char *nb = realloc(st->body, cap);
            if (!nb) return MHD_NO;
            st->body = nb;
            st->cap = cap;
        }
        memcpy(st->body + st->len, upload, n);
        st->len += n;
        return MHD_YES;
    }
    if (st->too_big) {
        serve_fail(&e, 413, "invalid_request_error", "request_too_large", NULL,
                   "The request body is larger than this server's limit of %zu bytes.", h->p.max_body);
        return send_error(h, c, method, url, &e);
    }
    serve_prepared pr;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    serve_prepare(h->p.cfg, method, url, auth, st->body ? st->body : "", st->len, &pr);
    sched_stats stats;
    switch (pr.ep) {
    case SERVE_EP_NONE: return send_error(h, c, method, url, &pr.err);
    case SERVE_EP_HEALTH: sched_get_stats(h->p.sc, &stats); return send_json(c, MHD_HTTP_OK, encode_health(&stats));
    case SERVE_EP_MODELS: return send_json(c, MHD_HTTP_OK, encode_models(h->p.model, (long long)time(NULL)));
    case SERVE_EP_METRICS:
        sched_get_stats(h->p.sc, &stats);
        return send_text(c, MHD_HTTP_OK, "text/plain; version=0.0.4", encode_metrics(&stats));
    case SERVE_EP_CHAT:
    case SERVE_EP_COMPLETION: return run_job(h, c, method, url, &pr.req);
    }
    return MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c, (void)toe;
    http_server *h = cls;
    conn *st = *con_cls;
    if (st) {
        free(st->body);
        free(st);
        atomic_fetch_sub(&h->in_flight, 1);
    }
    *con_cls = NULL;
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap) {
    const http_server *h = cls;
    if (h->p.quiet) return;
    fputs("g4 serve: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* ---- the daemon -------------------------------------------------------------------------- */

bool http_start(http_server **out, const http_params *p, char *err, size_t errlen) {
    *out = NULL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    int gai = getaddrinfo(p->host, NULL, &hints, &ai);
    if (gai != 0 || !ai) {
        snprintf(err, errlen, "cannot resolve --host '%s': %s", p->host, gai_strerror(gai));
        return false;
    }
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    const bool v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (v6) ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)p->port);
    else ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)p->port);

    http_server *h = calloc(1, sizeof *h);
    if (!h) { snprintf(err, errlen, "out of memory"); return false; }
    h->p = *p;
    h->listen_fd = -1;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(flags, (uint16_t)p->port, NULL, NULL, on_request, h,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, h, /* first, so that it sees every message */
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_CONNECTION_LIMIT, p->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, p->timeout_s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 128u,
                            /* enough for the deepest JSON cJSON accepts (1000 levels) under
                             * sanitizers; glibc keeps the stacks of finished threads resident */
                            MHD_OPTION_THREAD_STACK_SIZE, (size_t)(2u << 20),
                            MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "cannot listen on %s port %d (in use, or not an address of this machine?)", p->host, p->port);
        free(h);
        return false;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : p->port;
    *out = h;
    return true;
}

int http_port(const http_server *h) { return h->port; }

void http_quiesce(http_server *h) {
    if (h && h->d && h->listen_fd < 0) h->listen_fd = MHD_quiesce_daemon(h->d);
}

void http_drain(http_server *h, int max_ms) {
    for (int waited = 0; h && atomic_load(&h->in_flight) > 0 && waited < max_ms; waited += 10) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void http_stop(http_server *h) {
    if (!h) return;
    if (h->d) MHD_stop_daemon(h->d);
    if (h->listen_fd >= 0) close(h->listen_fd);
    free(h);
}
