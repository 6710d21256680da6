/*
 * copyRanges' engine. Ranges are taken in ascending output order and gathered into a batch:
 * output ranges that follow each other form a run (one writev), input ranges that lie close
 * together forward form a span (one read into the batch buffer, the gap included and left
 * out of the iovecs). When the buffer, the iovecs, the spans or the runs are used up, the
 * batch is flushed: every span is read, then every run written. With io_uring (when the
 * kernel allows it), the reads and then the writes of a batch go in a few io_uring_enter
 * calls; without it, one pread a span and one pwritev a run. Ranges of 1 MiB or more may go
 * through copy_file_range instead (see gather_copy).
 */
#include "gather.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define GATHER_BYTES ((size_t)8 << 20)
#define MAX_IOVECS 4096
/* IOV_MAX: the iovecs one writev takes. */
#define MAX_RUN_IOVECS 1024
#define MAX_SPANS 2048
#define MAX_RUNS 2048
#define ZERO_BYTES ((size_t)1 << 20)
#define READ_GAP ((uint64_t)64 << 10)
#define KERNEL_COPY_MIN ((uint64_t)1 << 20)
#define RING_ENTRIES 256

/* Input read into the buffer: [src, src + len) at buf + at; its first range and first iovec. */
typedef struct {
  uint64_t src, len;
  size_t at;
  uint64_t first;
  int iov;
  struct iovec v;
} span;

/* Output written with one writev: iovecs [iov, iov + n) at dst, `bytes` in all. */
typedef struct {
  uint64_t dst, bytes;
  int iov, n;
} run;

typedef struct {
  int fd;
  unsigned entries;
  unsigned *sq_tail, *sq_mask, *sq_array;
  unsigned *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe* sqes;
  struct io_uring_cqe* cqes;
  void *sq_ring, *cq_ring;
  size_t sq_size, cq_size, sqes_size;
} ring;

struct gather_env {
  uint8_t* buf;
  uint8_t* zeros;
  struct iovec* iov;
  span* spans;
  run* runs;
  ring r;
  /* The ring: 1 set up, 0 not tried yet, -1 unavailable (the kernel refused it). */
  int ring_state;
  bool ring_off;
};

/* ---- the io_uring ring ----------------------------------------------------------------- */

#if __has_include(<linux/io_uring.h>)
#include <linux/io_uring.h>
#define HAVE_IO_URING 1
#else
/* Built without the kernel's io_uring header: no ring (ring_open fails), the same results. */
#define HAVE_IO_URING 0
#define IORING_OP_READV 1
#define IORING_OP_WRITEV 2
struct io_uring_sqe;
struct io_uring_cqe;
#endif

static void ring_close(ring* r) {
  if (r->sqes != NULL) munmap(r->sqes, r->sqes_size);
  if (r->cq_ring != NULL && r->cq_ring != r->sq_ring) munmap(r->cq_ring, r->cq_size);
  if (r->sq_ring != NULL) munmap(r->sq_ring, r->sq_size);
  if (r->fd >= 0) close(r->fd);
  memset(r, 0, sizeof *r);
  r->fd = -1;
}

static bool ring_open(ring* r) {
#if HAVE_IO_URING
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  memset(r, 0, sizeof *r);
  r->fd = (int)syscall(__NR_io_uring_setup, RING_ENTRIES, &p);
  if (r->fd < 0) {
    r->fd = -1;
    return false;
  }
  r->entries = p.sq_entries;
  r->sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  r->cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    if (r->cq_size > r->sq_size) r->sq_size = r->cq_size;
    r->cq_size = r->sq_size;
  }
  r->sq_ring = mmap(NULL, r->sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  if (r->sq_ring == MAP_FAILED) {
    r->sq_ring = NULL;
    ring_close(r);
    return false;
  }
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    r->cq_ring = r->sq_ring;
  } else {
    r->cq_ring = mmap(NULL, r->cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
    if (r->cq_ring == MAP_FAILED) {
      r->cq_ring = NULL;
      ring_close(r);
      return false;
    }
  }
  r->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
  r->sqes = mmap(NULL, r->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) {
    r->sqes = NULL;
    ring_close(r);
    return false;
  }
  uint8_t* sq = r->sq_ring;
  uint8_t* cq = r->cq_ring;
  r->sq_tail = (unsigned*)(sq + p.sq_off.tail);
  r->sq_mask = (unsigned*)(sq + p.sq_off.ring_mask);
  r->sq_array = (unsigned*)(sq + p.sq_off.array);
  r->cq_head = (unsigned*)(cq + p.cq_off.head);
  r->cq_tail = (unsigned*)(cq + p.cq_off.tail);
  r->cq_mask = (unsigned*)(cq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe*)(cq + p.cq_off.cqes);
  return true;
#else
  memset(r, 0, sizeof *r);
  r->fd = -1;
  return false;
#endif
}

/* One readv or writev of `n` iovecs at `off`, to be submitted; `tag` comes back in its completion. */
typedef struct {
  uint8_t op;
  const struct iovec* iov;
  int n;
  uint64_t off;
} ring_op;

/*
 * Runs `count` operations on `fd` through the ring, at most `entries` at a time, and stores
 * each one's result (bytes, or -errno) in res[i]. False when the ring itself fails (then the
 * caller does them without it).
 */
static bool ring_run(ring* r, int fd, const ring_op* ops, int count, int64_t* res) {
#if HAVE_IO_URING
  for (int start = 0; start < count;) {
    int n = count - start < (int)r->entries ? count - start : (int)r->entries;
    unsigned tail = *r->sq_tail;
    for (int k = 0; k < n; k++) {
      unsigned idx = (tail + (unsigned)k) & *r->sq_mask;
      struct io_uring_sqe* s = &r->sqes[idx];
      memset(s, 0, sizeof *s);
      s->opcode = ops[start + k].op;
      s->fd = fd;
      s->off = ops[start + k].off;
      s->addr = (uint64_t)(uintptr_t)ops[start + k].iov;
      s->len = (unsigned)ops[start + k].n;
      s->user_data = (uint64_t)(start + k);
      r->sq_array[idx] = idx;
    }
    __atomic_store_n(r->sq_tail, tail + (unsigned)n, __ATOMIC_RELEASE);
    int submitted = 0, completed = 0;
    while (completed < n) {
      int want = n - submitted;
      // Wait for all of them: nothing is done with a completion before the others.
      int got = (int)syscall(__NR_io_uring_enter, r->fd, (unsigned)want, (unsigned)(n - completed), IORING_ENTER_GETEVENTS, NULL, 0);
      if (got < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EBUSY) continue;
        return false;
      }
      submitted += got;
      unsigned head = *r->cq_head;
      unsigned ctail = __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE);
      for (; head != ctail; head++) {
        struct io_uring_cqe* c = &r->cqes[head & *r->cq_mask];
        // A completion of this round's (ours were all collected before: none is left over).
        if (c->user_data >= (uint64_t)start && c->user_data < (uint64_t)(start + n)) {
          res[c->user_data] = c->res;
          completed++;
        }
      }
      __atomic_store_n(r->cq_head, head, __ATOMIC_RELEASE);
    }
    start += n;
  }
  return true;
#else
  (void)r;
  (void)fd;
  (void)ops;
  (void)count;
  (void)res;
  return false;
#endif
}

/* ---- the batch ------------------------------------------------------------------------- */

gather_env* gather_env_new(void) {
  gather_env* e = calloc(1, sizeof *e);
  if (e == NULL) return NULL;
  e->r.fd = -1;
  e->buf = malloc(GATHER_BYTES);
  e->zeros = calloc(1, ZERO_BYTES);
  e->iov = malloc(MAX_IOVECS * sizeof *e->iov);
  e->spans = malloc(MAX_SPANS * sizeof *e->spans);
  e->runs = malloc(MAX_RUNS * sizeof *e->runs);
  if (e->buf == NULL || e->zeros == NULL || e->iov == NULL || e->spans == NULL || e->runs == NULL) {
    gather_env_free(e);
    return NULL;
  }
  return e;
}

void gather_env_free(gather_env* e) {
  if (e == NULL) return;
  if (e->ring_state == 1) ring_close(&e->r);
  free(e->buf);
  free(e->zeros);
  free(e->iov);
  free(e->spans);
  free(e->runs);
  free(e);
}

bool gather_use_io_uring(gather_env* e, bool enable) {
  e->ring_off = !enable;
  if (!enable && e->ring_state == 1) {
    ring_close(&e->r);
    e->ring_state = 0;
  }
  if (enable && e->ring_state == 0) e->ring_state = ring_open(&e->r) ? 1 : -1;
  return e->ring_state == 1;
}

/* The ring failed (io_uring_enter refused): closed (which waits for what is in flight), not used again. */
static void ring_fail(gather_env* e) {
  ring_close(&e->r);
  e->ring_state = -1;
}

/* The ring, opened on first use; NULL when it is off or unavailable. */
static ring* ring_of(gather_env* e) {
  if (e->ring_off) return NULL;
  if (e->ring_state == 0) e->ring_state = ring_open(&e->r) ? 1 : -1;
  return e->ring_state == 1 ? &e->r : NULL;
}

/*
 * One call's batch. Invariants: `used` bytes of the buffer are taken; spans [0, nspans) and
 * runs [0, nruns) are pending, their iovecs [0, niov); the last span may still grow while
 * `open`; `last_span` is the span the last iovec points into (-1: zeros).
 */
typedef struct {
  gather_env* e;
  int in_fd, out_fd;
  size_t used;
  int niov, nspans, nruns;
  bool open;
  int last_span;
  gather_result res;
  bool short_input;
} batch;

/* Finishes a partly done read synchronously: false when the input ends first (or on an error). */
static bool read_rest(batch* b, span* s, uint64_t got) {
  while (got < s->len) {
    ssize_t n = pread(b->in_fd, b->e->buf + s->at + got, (size_t)(s->len - got), (off_t)(s->src + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      b->res.err = errno;
      b->res.failed = "pread";
      return false;
    }
    if (n == 0) {
      b->short_input = true;
      return false;
    }
    got += (uint64_t)n;
  }
  return true;
}

/* Finishes a partly done writev synchronously (the iovecs are a copy: they are advanced). */
static bool write_rest(batch* b, const run* w, uint64_t put) {
  struct iovec local[MAX_RUN_IOVECS];
  memcpy(local, &b->e->iov[w->iov], (size_t)w->n * sizeof *local);
  struct iovec* iov = local;
  int count = w->n;
  uint64_t skip = put;
  while (count > 0 && skip >= iov->iov_len) {
    skip -= iov->iov_len;
    iov++;
    count--;
  }
  if (count > 0) {
    iov->iov_base = (uint8_t*)iov->iov_base + skip;
    iov->iov_len -= skip;
  }
  while (count > 0) {
    ssize_t n = pwritev(b->out_fd, iov, count, (off_t)(w->dst + put));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      b->res.err = n < 0 ? errno : EIO;
      b->res.failed = "pwritev";
      return false;
    }
    put += (uint64_t)n;
    size_t left = (size_t)n;
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      count--;
    }
    if (count > 0) {
      iov->iov_base = (uint8_t*)iov->iov_base + left;
      iov->iov_len -= left;
    }
  }
  return true;
}

/* Reads every span; on a short input, returns the first span that came up short in *bad. */
static bool read_spans(batch* b, int* bad) {
  gather_env* e = b->e;
  *bad = -1;
  ring* r = ring_of(e);
  int64_t res[MAX_SPANS];
  ring_op ops[MAX_SPANS];
  bool ringed = false;
  if (r != NULL && b->nspans > 1) {
    for (int i = 0; i < b->nspans; i++) {
      span* s = &e->spans[i];
      s->v.iov_base = e->buf + s->at;
      s->v.iov_len = (size_t)s->len;
      ops[i] = (ring_op){IORING_OP_READV, &s->v, 1, s->src};
    }
    ringed = ring_run(r, b->in_fd, ops, b->nspans, res);
    if (!ringed) ring_fail(e);
  }
  for (int i = 0; i < b->nspans; i++) {
    span* s = &e->spans[i];
    uint64_t got = 0;
    if (ringed && res[i] > 0) got = (uint64_t)res[i];
    // An error through the ring (or none at all) is done again directly, which says what it is.
    if (!read_rest(b, s, got)) {
      if (b->short_input) *bad = i;
      return false;
    }
  }
  return true;
}

/* Writes runs [0, nruns), or, with `limit` >= 0, only their iovecs before iovec `limit`. */
static bool write_runs(batch* b, int limit) {
  gather_env* e = b->e;
  int nruns = b->nruns;
  run cut;
  if (limit >= 0) {
    // Keep the runs (and the part of a run) whose iovecs lie before `limit`.
    int k = 0;
    while (k < nruns && e->runs[k].iov + e->runs[k].n <= limit) k++;
    if (k < nruns && e->runs[k].iov < limit) {
      cut = e->runs[k];
      cut.n = limit - cut.iov;
      cut.bytes = 0;
      for (int i = 0; i < cut.n; i++) cut.bytes += e->iov[cut.iov + i].iov_len;
      e->runs[k] = cut;
      k++;
    }
    nruns = k;
  }
  ring* r = ring_of(e);
  int64_t res[MAX_RUNS];
  ring_op ops[MAX_RUNS];
  bool ringed = false;
  if (r != NULL && nruns > 1) {
    for (int i = 0; i < nruns; i++) ops[i] = (ring_op){IORING_OP_WRITEV, &e->iov[e->runs[i].iov], e->runs[i].n, e->runs[i].dst};
    ringed = ring_run(r, b->out_fd, ops, nruns, res);
    if (!ringed) ring_fail(e);
  }
  for (int i = 0; i < nruns; i++) {
    uint64_t put = ringed && res[i] > 0 ? (uint64_t)res[i] : 0;
    if (put < e->runs[i].bytes && !write_rest(b, &e->runs[i], put)) return false;
  }
  return true;
}

/* Reads, then writes, what the batch holds, and empties it. False on a failure or a short input. */
static bool flush(batch* b) {
  if (b->nruns > 0) {
    int bad;
    if (!read_spans(b, &bad)) {
      if (b->short_input) {
        // What lies before the span that came up short is written; the rest is not.
        b->res.done = b->e->spans[bad].first;
        write_runs(b, b->e->spans[bad].iov);
      }
      return false;
    }
    if (!write_runs(b, -1)) return false;
  }
  b->used = 0;
  b->niov = b->nspans = b->nruns = 0;
  b->open = false;
  b->last_span = -1;
  return true;
}

/* Makes the current run one that `dst` continues (a new one when it does not, or is full); false on a failure. */
static bool place(batch* b, uint64_t dst) {
  gather_env* e = b->e;
  run* w = b->nruns > 0 ? &e->runs[b->nruns - 1] : NULL;
  if (w != NULL && dst == w->dst + w->bytes && w->n < MAX_RUN_IOVECS && b->niov < MAX_IOVECS) return true;
  if (b->nruns == MAX_RUNS || b->niov == MAX_IOVECS) {
    if (!flush(b)) return false;
  }
  e->runs[b->nruns++] = (run){dst, 0, b->niov, 0};
  return true;
}

/* Adds range `index`'s data: `len` bytes of input at `src` for output `dst`. */
static bool add_data(batch* b, uint64_t index, uint64_t dst, uint64_t src, uint64_t len) {
  gather_env* e = b->e;
  while (len > 0) {
    if (!place(b, dst)) return false;
    span* s = b->nspans > 0 ? &e->spans[b->nspans - 1] : NULL;
    size_t at, take;
    bool extend = b->open && s != NULL && src >= s->src + s->len && src - (s->src + s->len) <= READ_GAP && s->at + (size_t)(src - s->src) < GATHER_BYTES;
    if (extend) {
      at = s->at + (size_t)(src - s->src);
      take = len < GATHER_BYTES - at ? (size_t)len : GATHER_BYTES - at;
      s->len = src + take - s->src;
    } else {
      if (b->used == GATHER_BYTES || b->nspans == MAX_SPANS) {
        if (!flush(b)) return false;
        continue;
      }
      at = b->used;
      take = len < GATHER_BYTES - at ? (size_t)len : GATHER_BYTES - at;
      e->spans[b->nspans++] = (span){src, take, at, index, b->niov, {NULL, 0}};
      b->open = true;
    }
    b->used = at + take;
    run* w = &e->runs[b->nruns - 1];
    struct iovec* last = w->n > 0 ? &e->iov[b->niov - 1] : NULL;
    // Input that follows on within the span and the run: one iovec.
    if (extend && last != NULL && b->last_span == b->nspans - 1 && (uint8_t*)last->iov_base + last->iov_len == e->buf + at) {
      last->iov_len += take;
    } else {
      e->iov[b->niov++] = (struct iovec){e->buf + at, take};
      w->n++;
    }
    b->last_span = b->nspans - 1;
    w->bytes += take;
    dst += take;
    src += take;
    len -= take;
  }
  return true;
}

/* Adds a range of `len` zeros at `dst`. */
static bool add_zeros(batch* b, uint64_t dst, uint64_t len) {
  gather_env* e = b->e;
  while (len > 0) {
    if (!place(b, dst)) return false;
    run* w = &e->runs[b->nruns - 1];
    size_t take = len < ZERO_BYTES ? (size_t)len : ZERO_BYTES;
    e->iov[b->niov++] = (struct iovec){e->zeros, take};
    w->n++;
    w->bytes += take;
    b->last_span = -1;
    dst += take;
    len -= take;
  }
  return true;
}

/* Copies a large range with copy_file_range; returns the bytes left for the caller (the kernel refused: state cleared). */
static uint64_t kernel_copy(batch* b, int32_t* state, uint64_t dst, uint64_t src, uint64_t len) {
  while (len > 0) {
    loff_t from = (loff_t)src, to = (loff_t)dst;
    size_t want = len > ((uint64_t)1 << 30) ? ((size_t)1 << 30) : (size_t)len;
    ssize_t n = syscall(SYS_copy_file_range, b->in_fd, &from, b->out_fd, &to, want, 0);
    if (n > 0) {
      src += (uint64_t)n;
      dst += (uint64_t)n;
      len -= (uint64_t)n;
      continue;
    }
    if (n == 0) {
      b->short_input = true;
      return len;
    }
    if (errno == EINTR) continue;
    if (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP) {
      state[0] = 0;
      return len;
    }
    b->res.err = errno;
    b->res.failed = "copy_file_range";
    return len;
  }
  return 0;
}

gather_result gather_copy(gather_env* e, int in_fd, int out_fd, const double* ranges, uint64_t count, int32_t* state) {
  batch b;
  memset(&b, 0, sizeof b);
  b.e = e;
  b.in_fd = in_fd;
  b.out_fd = out_fd;
  b.last_span = -1;
  b.res.done = count;
  for (uint64_t i = 0; i < count; i++) {
    uint64_t dst = (uint64_t)ranges[3 * i], len = (uint64_t)ranges[3 * i + 2];
    if (len == 0) continue;
    bool ok;
    if (ranges[3 * i + 1] < 0) {
      ok = add_zeros(&b, dst, len);
    } else {
      uint64_t src = (uint64_t)ranges[3 * i + 1];
      ok = true;
      if (state != NULL && state[0] != 0 && len >= KERNEL_COPY_MIN) {
        ok = flush(&b);
        if (ok) {
          uint64_t left = kernel_copy(&b, state, dst, src, len);
          if (b.res.err != 0 || b.short_input) {
            if (b.short_input) b.res.done = i;
            ok = false;
          } else {
            dst += len - left;
            src += len - left;
            len = left;
          }
        }
      }
      if (ok) ok = add_data(&b, i, dst, src, len);
    }
    if (!ok) {
      if (b.res.err != 0) b.res.done = i;
      return b.res;
    }
  }
  flush(&b);
  return b.res;
}
