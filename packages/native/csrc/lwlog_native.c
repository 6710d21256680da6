/*
 * lwlog_native: the Linux file and block I/O primitives Node.js 20 lacks, as a Node-API
 * (NAPI_VERSION 8) addon. Loaded and argument-checked by src/addon.ts; every function here
 * checks its arguments again, so a wrong call throws instead of crashing the process.
 *
 * Errors: a failed system call throws an Error with `errno` (the positive errno number) and
 * `syscall` set; the TypeScript wrapper turns it into a NativeIoError with the errno's name.
 * A bad argument throws a RangeError with code LWLOG_RANGE. Functions that report "not
 * supported here" (fallocate modes, block ioctls on a file) return false instead of throwing.
 *
 * Mappings: `map` returns a Uint8Array over an external ArrayBuffer whose memory is the
 * mapping. The ArrayBuffer is type-tagged and wrapped with its `mapping` record, so `unmap`
 * accepts only mappings made here, and only once: it removes the wrap, detaches the buffer
 * (every view of it then has length 0) and munmaps at once. The buffer's finalizer (run after
 * garbage collection, or after the detach) munmaps what `unmap` did not and frees the record.
 */
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* The largest mapping one call makes (1 GiB and room to align it): windows, not whole files. */
#define MAX_MAP_BYTES (((uint64_t)1 << 30) + ((uint64_t)1 << 16))
/* Largest safe integer of a JS number: positions and lengths must stay below it. */
#define MAX_SAFE ((uint64_t)9007199254740991ULL)
/* Bytes copied through user space at a time when copy_file_range cannot be used. */
#define COPY_BUFFER_BYTES ((size_t)1 << 20)
/* copyRanges: bytes gathered before each pwritev, the iovecs one pwritev takes at most, the
 * zeros an iovec of a zero range points at, how far past one range's input the next one's may
 * start and still be read with it in one pread, and the size from which a range is copied with
 * copy_file_range while the kernel can. */
#define GATHER_BYTES ((size_t)8 << 20)
#define GATHER_IOVECS 1024
#define ZERO_BYTES ((size_t)1 << 20)
#define READ_GAP ((uint64_t)64 << 10)
#define KERNEL_COPY_MIN ((uint64_t)1 << 20)

typedef struct {
  void* addr; /* NULL once unmapped */
  size_t length;
} mapping;

/* Per-environment state (each worker thread has its own): the copy fallback's buffer, and
 * copyRanges' gather buffer, iovecs and zeros (allocated when first needed). */
typedef struct {
  uint8_t* copy_buffer;
  uint8_t* gather_buffer;
  struct iovec* iovecs;
  uint8_t* zeros;
} instance;

static const napi_type_tag MAPPING_TAG = {0x6c776c6f676d6170ULL, 0x6e61746976650001ULL};

/* ---- errors and arguments ---------------------------------------------------------- */

/* Throws an Error carrying `errno` and `syscall`; returns NULL for the caller to return. */
static napi_value throw_errno(napi_env env, int err, const char* syscall_name) {
  char text[160];
  snprintf(text, sizeof text, "%s failed (errno %d)", syscall_name, err);
  napi_value message, error, number, name;
  if (napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &message) != napi_ok) return NULL;
  if (napi_create_error(env, NULL, message, &error) != napi_ok) return NULL;
  napi_create_int32(env, err, &number);
  napi_set_named_property(env, error, "errno", number);
  napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &name);
  napi_set_named_property(env, error, "syscall", name);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_range(napi_env env, const char* message) {
  napi_throw_range_error(env, "LWLOG_RANGE", message);
  return NULL;
}

/* Reads `argc` arguments; false (with an exception pending) when fewer were given. */
static bool get_args(napi_env env, napi_callback_info info, size_t argc, napi_value* argv) {
  size_t given = argc;
  if (napi_get_cb_info(env, info, &given, argv, NULL, NULL) != napi_ok) return false;
  if (given < argc) {
    napi_throw_type_error(env, "LWLOG_RANGE", "missing arguments");
    return false;
  }
  return true;
}

/* A whole number in [0, max], from a JS number (never a bigint or a string). */
static bool get_whole(napi_env env, napi_value value, uint64_t max, const char* what, uint64_t* out) {
  napi_valuetype type;
  double d;
  char text[120];
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number ||
      napi_get_value_double(env, value, &d) != napi_ok || !isfinite(d) || d < 0 || d != floor(d) ||
      d > (double)max) {
    snprintf(text, sizeof text, "%s must be a whole number from 0 to %llu", what, (unsigned long long)max);
    throw_range(env, text);
    return false;
  }
  *out = (uint64_t)d;
  return true;
}

static bool get_fd(napi_env env, napi_value value, int* fd) {
  uint64_t v;
  if (!get_whole(env, value, INT32_MAX, "a file descriptor", &v)) return false;
  *fd = (int)v;
  return true;
}

/* fd, offset and length, with offset + length a safe integer. */
static bool get_range(napi_env env, napi_callback_info info, int* fd, uint64_t* offset, uint64_t* length) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return false;
  if (!get_fd(env, argv[0], fd) || !get_whole(env, argv[1], MAX_SAFE, "offset", offset) ||
      !get_whole(env, argv[2], MAX_SAFE, "length", length)) {
    return false;
  }
  if (*offset + *length > MAX_SAFE) {
    throw_range(env, "offset + length must stay below 2^53");
    return false;
  }
  return true;
}

static napi_value make_bool(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

static napi_value make_number(napi_env env, uint64_t n) {
  napi_value v;
  napi_create_double(env, (double)n, &v);
  return v;
}

/* ---- mappings ---------------------------------------------------------------------- */

static void finalize_mapping(napi_env env, void* data, void* hint) {
  mapping* m = hint;
  if (m->addr != NULL) munmap(m->addr, m->length);
  free(m);
}

/* Size in bytes of a regular file or block device; false (errno set) for anything else. */
static bool size_of(int fd, uint64_t* size, const char** failed) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    *failed = "fstat";
    return false;
  }
  if (S_ISREG(st.st_mode)) {
    *size = (uint64_t)st.st_size;
    return true;
  }
  if (S_ISBLK(st.st_mode)) {
    if (ioctl(fd, BLKGETSIZE64, size) != 0) {
      *failed = "ioctl(BLKGETSIZE64)";
      return false;
    }
    return true;
  }
  errno = ENODEV;
  *failed = "mmap";
  return false;
}

/*
 * map(fd, offset, length, advice) -> Uint8Array: PROT_READ, MAP_SHARED. `offset` must be a
 * multiple of the page size and the range must lie within the file or device: a page past
 * its end would raise SIGBUS when touched. `advice` is an madvise(2) value (0: none).
 */
static napi_value Map(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int fd;
  uint64_t offset, length, advice, size;
  if (!get_args(env, info, 4, argv) || !get_fd(env, argv[0], &fd) ||
      !get_whole(env, argv[1], MAX_SAFE, "offset", &offset) ||
      !get_whole(env, argv[2], MAX_MAP_BYTES, "length", &length) ||
      !get_whole(env, argv[3], 1000, "advice", &advice)) {
    return NULL;
  }
  if (advice != 0 && advice != MADV_SEQUENTIAL && advice != MADV_RANDOM && advice != MADV_WILLNEED) {
    return throw_range(env, "advice must be 0, MADV_SEQUENTIAL, MADV_RANDOM or MADV_WILLNEED");
  }
  long page = sysconf(_SC_PAGESIZE);
  if (offset % (uint64_t)page != 0) return throw_range(env, "offset must be a multiple of the page size");
  if (length == 0) return throw_range(env, "length must be at least 1");
  const char* failed = NULL;
  if (!size_of(fd, &size, &failed)) return throw_errno(env, errno, failed);
  if (offset + length > size) return throw_range(env, "the range ends past the end of the file");

  void* addr = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, fd, (off_t)offset);
  if (addr == MAP_FAILED) return throw_errno(env, errno, "mmap");
  if (advice != 0) madvise(addr, (size_t)length, (int)advice); /* a hint: its failure changes nothing */
  mapping* m = malloc(sizeof *m);
  if (m == NULL) {
    munmap(addr, (size_t)length);
    return throw_errno(env, ENOMEM, "malloc");
  }
  m->addr = addr;
  m->length = (size_t)length;

  napi_value buffer, view;
  napi_status status = napi_create_external_arraybuffer(env, addr, (size_t)length, finalize_mapping, m, &buffer);
  if (status != napi_ok) {
    // Whether the finalizer has run is not specified for every failure; an unreleased
    // mapping is the safe side of that (the wrapper stops mapping after a failure).
    return throw_errno(env, ENOMEM, "napi_create_external_arraybuffer");
  }
  if (napi_type_tag_object(env, buffer, &MAPPING_TAG) != napi_ok ||
      napi_wrap(env, buffer, m, NULL, NULL, NULL) != napi_ok ||
      napi_create_typedarray(env, napi_uint8_array, (size_t)length, buffer, 0, &view) != napi_ok) {
    // The buffer's finalizer releases the mapping once it is collected.
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (!pending) napi_throw_error(env, NULL, "mapRange: cannot set up the mapping's buffer");
    return NULL;
  }
  return view;
}

/*
 * unmap(arrayBuffer) -> boolean: detaches a buffer `map` returned and munmaps it at once;
 * false when it was already unmapped or detached. Throws for a buffer `map` did not make.
 */
static napi_value Unmap(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  bool is_buffer = false, tagged = false, detached = false;
  if (!get_args(env, info, 1, argv)) return NULL;
  napi_is_arraybuffer(env, argv[0], &is_buffer);
  if (is_buffer) napi_check_object_type_tag(env, argv[0], &MAPPING_TAG, &tagged);
  if (!tagged) return throw_range(env, "not a mapping made by mapRange");
  if (napi_is_detached_arraybuffer(env, argv[0], &detached) != napi_ok || detached) return make_bool(env, false);
  void* data = NULL;
  if (napi_remove_wrap(env, argv[0], &data) != napi_ok || data == NULL) return make_bool(env, false);
  mapping* m = data;
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) {
    // Still reachable from JS, so it stays mapped; the finalizer unmaps it later.
    return make_bool(env, false);
  }
  munmap(m->addr, m->length);
  m->addr = NULL;
  return make_bool(env, true);
}

/* ---- copies ------------------------------------------------------------------------ */

static bool same_file(int a, int b) {
  struct stat sa, sb;
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* errno values of copy_file_range that mean "not between these two files": copy otherwise. */
static bool no_kernel_copy(int err) {
  return err == EXDEV || err == ENOSYS || err == EINVAL || err == EOPNOTSUPP;
}

/*
 * The optional copy state argument: an Int32Array whose element 0 says whether the kernel
 * may be asked to copy (non-zero) and is set to 0 once it says it cannot, so that a caller
 * copying many ranges between the same two files asks once. NULL when not given.
 */
static bool get_copy_state(napi_env env, napi_value value, int32_t** state) {
  napi_valuetype vt;
  if (napi_typeof(env, value, &vt) != napi_ok) return false;
  if (vt == napi_undefined) {
    *state = NULL;
    return true;
  }
  bool is_typed;
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_int32_array || length < 1) {
    throw_range(env, "the copy state must be an Int32Array of at least one element");
    return false;
  }
  *state = data;
  return true;
}

/*
 * copyFileRange(fdIn, offIn, fdOut, offOut, length[, state]) -> bytes copied (fewer than
 * `length` only when the input ends first). copy_file_range(2) in a loop; where the kernel
 * cannot (another file system, a block device, an old kernel) the rest goes through
 * pread/pwrite and one buffer per environment, still without a copy into JS. With `state`
 * (see get_copy_state) the kernel is not asked when state[0] is 0, and state[0] is cleared
 * when it refuses.
 */
static napi_value CopyFileRange(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  size_t argc = 6;
  int in_fd, out_fd;
  uint64_t in_off, out_off, length;
  int32_t* state = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 5) {
    napi_throw_type_error(env, "LWLOG_RANGE", "missing arguments");
    return NULL;
  }
  if ((argc >= 6 && !get_copy_state(env, argv[5], &state)) || !get_fd(env, argv[0], &in_fd) ||
      !get_whole(env, argv[1], MAX_SAFE, "input offset", &in_off) || !get_fd(env, argv[2], &out_fd) ||
      !get_whole(env, argv[3], MAX_SAFE, "output offset", &out_off) ||
      !get_whole(env, argv[4], MAX_SAFE, "length", &length)) {
    return NULL;
  }
  if (in_off + length > MAX_SAFE || out_off + length > MAX_SAFE) return throw_range(env, "offset + length must stay below 2^53");
  uint64_t done = 0;
  bool in_kernel = state == NULL || state[0] != 0;
  uint8_t* buffer = NULL;
  while (done < length) {
    uint64_t left = length - done;
    if (in_kernel) {
      loff_t from = (loff_t)(in_off + done), to = (loff_t)(out_off + done);
      size_t want = left > ((uint64_t)1 << 30) ? ((size_t)1 << 30) : (size_t)left;
      ssize_t n = syscall(SYS_copy_file_range, in_fd, &from, out_fd, &to, want, 0);
      if (n > 0) {
        done += (uint64_t)n;
        continue;
      }
      if (n == 0) break; /* the input ends here */
      int err = errno;
      if (err == EINTR) continue;
      if (!no_kernel_copy(err)) return throw_errno(env, err, "copy_file_range");
      // EINVAL also means overlapping ranges of one file, which a forward copy would corrupt.
      if (err == EINVAL && same_file(in_fd, out_fd) && in_off + done < out_off + length && out_off + done < in_off + length) {
        return throw_errno(env, EINVAL, "copy_file_range");
      }
      in_kernel = false;
      if (state != NULL) state[0] = 0;
    }
    if (buffer == NULL) {
      instance* inst = NULL;
      if (napi_get_instance_data(env, (void**)&inst) != napi_ok || inst == NULL) return throw_errno(env, EFAULT, "napi_get_instance_data");
      if (inst->copy_buffer == NULL && (inst->copy_buffer = malloc(COPY_BUFFER_BYTES)) == NULL) return throw_errno(env, ENOMEM, "malloc");
      buffer = inst->copy_buffer;
    }
    size_t chunk = left > COPY_BUFFER_BYTES ? COPY_BUFFER_BYTES : (size_t)left;
    ssize_t got = pread(in_fd, buffer, chunk, (off_t)(in_off + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return throw_errno(env, errno, "pread");
    }
    if (got == 0) break;
    for (ssize_t put = 0; put < got;) {
      ssize_t n = pwrite(out_fd, buffer + put, (size_t)(got - put), (off_t)(out_off + done + (uint64_t)put));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return throw_errno(env, n < 0 ? errno : EIO, "pwrite");
      put += n;
    }
    done += (uint64_t)got;
  }
  return make_number(env, done);
}

/*
 * copyRanges' work: ranges gathered into runs (output ranges that follow each other), each
 * run written with one pwritev of iovecs into the gather buffer (data) or the zeros. Input
 * ranges that follow each other closely (at most READ_GAP apart, forward) are read with one
 * pread, the gap included. Invariants: `used` bytes of the buffer are taken; the iovecs
 * [0, niov) hold the run [run_dst, run_dst + run_len); the open span (input [span_src,
 * span_end) into buf + span_at, its iovecs from span_iov on, its first range span_first)
 * is not read yet: it is read when a new span opens or the run is written.
 */
typedef struct {
  int in_fd, out_fd;
  uint8_t* buf;
  size_t used;
  struct iovec* iov;
  int niov;
  uint64_t run_dst, run_len;
  bool span_open;
  uint64_t span_src, span_end;
  size_t span_at;
  int span_iov;
  uint64_t span_first;
  const uint8_t* zeros;
  /* Set on failure: errno and the call, or short_input when the input ended. */
  int err;
  const char* failed;
  bool short_input;
} gather;

/* Reads the open span; false on a failure or when the input ends first. */
static bool gather_read(gather* g) {
  if (!g->span_open) return true;
  size_t want = (size_t)(g->span_end - g->span_src);
  size_t got = 0;
  while (got < want) {
    ssize_t n = pread(g->in_fd, g->buf + g->span_at + got, want - got, (off_t)(g->span_src + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      g->err = errno;
      g->failed = "pread";
      return false;
    }
    if (n == 0) {
      g->short_input = true;
      return false;
    }
    got += (size_t)n;
  }
  g->span_open = false;
  return true;
}

/* Writes iovecs [0, count) at run_dst (retrying short writes); false on a failure. */
static bool gather_pwritev(gather* g, int count) {
  struct iovec* iov = g->iov;
  uint64_t at = g->run_dst;
  while (count > 0) {
    ssize_t n = pwritev(g->out_fd, iov, count, (off_t)at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      g->err = n < 0 ? errno : EIO;
      g->failed = "pwritev";
      return false;
    }
    at += (uint64_t)n;
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

/* Reads what is pending and writes the run; false on a failure. */
static bool gather_flush(gather* g) {
  if (g->niov > 0) {
    if (!gather_read(g)) return false;
    if (!gather_pwritev(g, g->niov)) return false;
  }
  g->niov = 0;
  g->used = 0;
  g->run_len = 0;
  return true;
}

/* Starts or continues the run with `len` bytes at `dst`: flushes first when they do not follow it or it is full. */
static bool gather_place(gather* g, uint64_t dst) {
  if (g->niov > 0 && (dst != g->run_dst + g->run_len || g->niov == GATHER_IOVECS)) {
    if (!gather_flush(g)) return false;
  }
  if (g->niov == 0) g->run_dst = dst;
  return true;
}

/* Adds range `index`: `len` bytes of input at `src` for the output at `dst`. */
static bool gather_data(gather* g, uint64_t index, uint64_t dst, uint64_t src, uint64_t len) {
  while (len > 0) {
    if (!gather_place(g, dst)) return false;
    uint8_t* p;
    size_t take;
    bool extend = g->span_open && src >= g->span_end && src - g->span_end <= READ_GAP && g->span_at + (size_t)(src - g->span_src) < GATHER_BYTES;
    if (extend) {
      size_t at = g->span_at + (size_t)(src - g->span_src);
      take = len < GATHER_BYTES - at ? (size_t)len : GATHER_BYTES - at;
      p = g->buf + at;
      g->span_end = src + take;
      g->used = at + take;
    } else {
      if (!gather_read(g)) return false;
      if (g->used == GATHER_BYTES) {
        if (!gather_flush(g)) return false;
        continue;
      }
      take = len < GATHER_BYTES - g->used ? (size_t)len : GATHER_BYTES - g->used;
      g->span_open = true;
      g->span_src = src;
      g->span_end = src + take;
      g->span_at = g->used;
      g->span_iov = g->niov;
      g->span_first = index;
      p = g->buf + g->used;
      g->used += take;
    }
    /* One iovec for input that follows on within a span (never across two: see the short-input case). */
    struct iovec* last = extend && g->niov > g->span_iov ? &g->iov[g->niov - 1] : NULL;
    if (last != NULL && (uint8_t*)last->iov_base + last->iov_len == p) {
      last->iov_len += take;
    } else {
      g->iov[g->niov].iov_base = p;
      g->iov[g->niov].iov_len = take;
      g->niov++;
    }
    g->run_len += take;
    dst += take;
    src += take;
    len -= take;
  }
  return true;
}

/* Adds a zero range of `len` bytes at `dst`. */
static bool gather_zeros(gather* g, uint64_t dst, uint64_t len) {
  while (len > 0) {
    if (!gather_place(g, dst)) return false;
    size_t take = len < ZERO_BYTES ? (size_t)len : ZERO_BYTES;
    g->iov[g->niov].iov_base = (void*)g->zeros;
    g->iov[g->niov].iov_len = take;
    g->niov++;
    g->run_len += take;
    dst += take;
    len -= take;
  }
  return true;
}

/*
 * Copies a large range with copy_file_range. Returns the bytes it did not copy (0 when done):
 * the kernel refused (then state[0] is cleared, and the caller copies the rest) or the input
 * ended (short_input set); false-ish failures set err.
 */
static uint64_t kernel_copy(gather* g, int32_t* state, uint64_t dst, uint64_t src, uint64_t len) {
  while (len > 0) {
    loff_t from = (loff_t)src, to = (loff_t)dst;
    size_t want = len > ((uint64_t)1 << 30) ? ((size_t)1 << 30) : (size_t)len;
    ssize_t n = syscall(SYS_copy_file_range, g->in_fd, &from, g->out_fd, &to, want, 0);
    if (n > 0) {
      src += (uint64_t)n;
      dst += (uint64_t)n;
      len -= (uint64_t)n;
      continue;
    }
    if (n == 0) {
      g->short_input = true;
      return len;
    }
    if (errno == EINTR) continue;
    if (no_kernel_copy(errno)) {
      state[0] = 0;
      return len;
    }
    g->err = errno;
    g->failed = "copy_file_range";
    return len;
  }
  return 0;
}

/* A whole number in [0, MAX_SAFE] held in a double (-1 allowed when `zero_ok`). */
static bool whole_double(double d, bool zero_ok) {
  if (zero_ok && d == -1) return true;
  return isfinite(d) && d >= 0 && d == floor(d) && d <= (double)MAX_SAFE;
}

/*
 * copyRanges(fdIn, fdOut, ranges, count, state) -> ranges copied. `ranges` is a Float64Array
 * of `count` triples [dst, src, len]: `len` bytes of fdIn at `src` to fdOut at `dst`, or
 * zeros when `src` is -1; in ascending `dst` order they are written as a few large pwritev
 * calls (see `gather`). Ranges of KERNEL_COPY_MIN bytes or more go through copy_file_range
 * while state[0] (an Int32Array) is non-zero; it is cleared when the kernel refuses. Returns
 * `count`, or fewer when the input ends before a range's end: the ranges before the returned
 * index have been written, not the ones from it on (or only partly).
 */
static napi_value CopyRanges(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int in_fd, out_fd;
  uint64_t count;
  int32_t* state = NULL;
  if (!get_args(env, info, 5, argv) || !get_fd(env, argv[0], &in_fd) || !get_fd(env, argv[1], &out_fd) ||
      !get_whole(env, argv[3], MAX_SAFE, "count", &count) || !get_copy_state(env, argv[4], &state)) {
    return NULL;
  }
  bool is_typed;
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_is_typedarray(env, argv[2], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[2], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_float64_array) {
    return throw_range(env, "copyRanges: ranges must be a Float64Array");
  }
  if (count > length / 3) return throw_range(env, "copyRanges: count is more than the ranges hold");
  const double* r = data;
  for (uint64_t i = 0; i < count; i++) {
    double dst = r[3 * i], src = r[3 * i + 1], len = r[3 * i + 2];
    if (!whole_double(dst, false) || !whole_double(src, true) || !whole_double(len, false) || dst + len > (double)MAX_SAFE ||
        (src >= 0 && src + len > (double)MAX_SAFE)) {
      char text[160];
      snprintf(text, sizeof text, "copyRanges: range %llu is not whole numbers of bytes below 2^53 (src -1 for zeros)", (unsigned long long)i);
      return throw_range(env, text);
    }
  }
  if (count == 0) return make_number(env, 0);
  instance* inst = NULL;
  if (napi_get_instance_data(env, (void**)&inst) != napi_ok || inst == NULL) return throw_errno(env, EFAULT, "napi_get_instance_data");
  if (inst->gather_buffer == NULL && (inst->gather_buffer = malloc(GATHER_BYTES)) == NULL) return throw_errno(env, ENOMEM, "malloc");
  if (inst->iovecs == NULL && (inst->iovecs = malloc(GATHER_IOVECS * sizeof(struct iovec))) == NULL) return throw_errno(env, ENOMEM, "malloc");
  if (inst->zeros == NULL && (inst->zeros = calloc(1, ZERO_BYTES)) == NULL) return throw_errno(env, ENOMEM, "calloc");
  gather g = {0};
  g.in_fd = in_fd;
  g.out_fd = out_fd;
  g.buf = inst->gather_buffer;
  g.iov = inst->iovecs;
  g.zeros = inst->zeros;
  /* The range being copied when something failed. */
  uint64_t at = count;
  for (uint64_t i = 0; i < count && at == count; i++) {
    uint64_t dst = (uint64_t)r[3 * i], len = (uint64_t)r[3 * i + 2];
    if (len == 0) continue;
    if (r[3 * i + 1] < 0) {
      if (!gather_zeros(&g, dst, len)) at = i;
      continue;
    }
    uint64_t src = (uint64_t)r[3 * i + 1];
    if (state != NULL && state[0] != 0 && len >= KERNEL_COPY_MIN) {
      if (!gather_flush(&g)) {
        at = i;
        break;
      }
      uint64_t left = kernel_copy(&g, state, dst, src, len);
      if (g.err != 0 || g.short_input) {
        at = i;
        break;
      }
      dst += len - left;
      src += len - left;
      len = left;
    }
    if (!gather_data(&g, i, dst, src, len)) at = i;
  }
  if (at == count && gather_flush(&g)) return make_number(env, (double)count);
  if (g.short_input) {
    /* What was gathered before the span that came up short is written; the rest is not. */
    uint64_t first = at;
    if (g.span_open) {
      first = g.span_first;
      g.span_open = false;
      if (g.span_iov > 0 && !gather_pwritev(&g, g.span_iov)) return throw_errno(env, g.err, g.failed);
    }
    return make_number(env, (double)first);
  }
  return throw_errno(env, g.err, g.failed);
}

/* ---- zeroing ----------------------------------------------------------------------- */

/* errno values that mean "this file, device or kernel cannot do that": the caller falls back. */
static bool unsupported(int err) {
  return err == EOPNOTSUPP || err == ENOSYS || err == EINVAL || err == ENODEV || err == ENOTTY || err == ESPIPE;
}

static napi_value fallocate_mode(napi_env env, napi_callback_info info, int mode) {
  int fd;
  uint64_t offset, length;
  if (!get_range(env, info, &fd, &offset, &length)) return NULL;
  if (length == 0) return make_bool(env, true);
  for (;;) {
    if (fallocate(fd, mode, (off_t)offset, (off_t)length) == 0) return make_bool(env, true);
    if (errno == EINTR) continue;
    if (unsupported(errno)) return make_bool(env, false);
    return throw_errno(env, errno, "fallocate");
  }
}

/* punchHole(fd, offset, length) -> boolean: a hole that reads as zeros; the size is kept. */
static napi_value PunchHole(napi_env env, napi_callback_info info) {
  return fallocate_mode(env, info, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
}

/* zeroRange(fd, offset, length) -> boolean: zeros, allocated (a file grows past its end). */
static napi_value ZeroRange(napi_env env, napi_callback_info info) {
  return fallocate_mode(env, info, FALLOC_FL_ZERO_RANGE);
}

static napi_value block_range_ioctl(napi_env env, napi_callback_info info, unsigned long request, const char* name) {
  int fd;
  uint64_t offset, length;
  if (!get_range(env, info, &fd, &offset, &length)) return NULL;
  if (length == 0) return make_bool(env, true);
  uint64_t range[2] = {offset, length};
  for (;;) {
    if (ioctl(fd, request, range) == 0) return make_bool(env, true);
    if (errno == EINTR) continue;
    if (unsupported(errno)) return make_bool(env, false);
    return throw_errno(env, errno, name);
  }
}

/* blockZeroOut(fd, offset, length) -> boolean: BLKZEROOUT (512-byte aligned ranges). */
static napi_value BlockZeroOut(napi_env env, napi_callback_info info) {
  return block_range_ioctl(env, info, BLKZEROOUT, "ioctl(BLKZEROOUT)");
}

/* blockDiscard(fd, offset, length) -> boolean: BLKDISCARD (what the range reads as after is device-specific). */
static napi_value BlockDiscard(napi_env env, napi_callback_info info) {
  return block_range_ioctl(env, info, BLKDISCARD, "ioctl(BLKDISCARD)");
}

/* blockDeviceSize(fd) -> bytes: BLKGETSIZE64. */
static napi_value BlockDeviceSize(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], &fd)) return NULL;
  uint64_t size = 0;
  if (ioctl(fd, BLKGETSIZE64, &size) != 0) return throw_errno(env, errno, "ioctl(BLKGETSIZE64)");
  if (size > MAX_SAFE) return throw_range(env, "the device is larger than 2^53 bytes");
  return make_number(env, size);
}

/*
 * seek(fd, offset, whence): lseek(2) with SEEK_DATA or SEEK_HOLE. -1 when there is no data at
 * or after `offset` (ENXIO: also an offset at or past the end). A file system without
 * SEEK_DATA support treats the whole file as data, as lseek(2) documents.
 */
static napi_value seek_whence(napi_env env, napi_callback_info info, int whence, const char* name) {
  napi_value argv[2];
  int fd;
  uint64_t offset;
  if (!get_args(env, info, 2, argv) || !get_fd(env, argv[0], &fd) || !get_whole(env, argv[1], MAX_SAFE, "offset", &offset)) return NULL;
  off_t at = lseek(fd, (off_t)offset, whence);
  if (at < 0) {
    if (errno == ENXIO) {
      napi_value minus;
      napi_create_int32(env, -1, &minus);
      return minus;
    }
    return throw_errno(env, errno, name);
  }
  return make_number(env, (uint64_t)at);
}

/* seekData(fd, offset) -> the first byte of data at or after offset, or -1. */
static napi_value SeekData(napi_env env, napi_callback_info info) {
  return seek_whence(env, info, SEEK_DATA, "lseek(SEEK_DATA)");
}

/* seekHole(fd, offset) -> the first byte of a hole at or after offset (the end of the file counts as one), or -1. */
static napi_value SeekHole(napi_env env, napi_callback_info info) {
  return seek_whence(env, info, SEEK_HOLE, "lseek(SEEK_HOLE)");
}

/* ---- hashing ----------------------------------------------------------------------- */

/*
 * XXH64, as its specification (Yann Collet's xxhash, doc/xxhash_spec.md) defines it, so the
 * results equal xxhash-wasm's h64 (the fallback): four lanes of multiply-rotate rounds over
 * 32-byte stripes, merged, then the remaining 8-, 4- and 1-byte pieces, then an avalanche.
 * It hashes the bytes where they are instead of copying them into WebAssembly memory first.
 */
#define XXH_P1 0x9E3779B185EBCA87ULL
#define XXH_P2 0xC2B2AE3D27D4EB4FULL
#define XXH_P3 0x165667B19E3779F9ULL
#define XXH_P4 0x85EBCA77C2B2AE63ULL
#define XXH_P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t load64(const uint8_t* p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t load32(const uint8_t* p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t xxh_round(uint64_t acc, uint64_t input) { return rotl64(acc + input * XXH_P2, 31) * XXH_P1; }
static inline uint64_t xxh_merge(uint64_t acc, uint64_t lane) { return (acc ^ xxh_round(0, lane)) * XXH_P1 + XXH_P4; }

static uint64_t xxh64(const uint8_t* p, size_t n, uint64_t seed) {
  const uint8_t* end = p + n;
  uint64_t h;
  if (n >= 32) {
    uint64_t v1 = seed + XXH_P1 + XXH_P2, v2 = seed + XXH_P2, v3 = seed, v4 = seed - XXH_P1;
    const uint8_t* last_stripe = end - 32;
    do {
      v1 = xxh_round(v1, load64(p));
      v2 = xxh_round(v2, load64(p + 8));
      v3 = xxh_round(v3, load64(p + 16));
      v4 = xxh_round(v4, load64(p + 24));
      p += 32;
    } while (p <= last_stripe);
    h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
    h = xxh_merge(h, v1);
    h = xxh_merge(h, v2);
    h = xxh_merge(h, v3);
    h = xxh_merge(h, v4);
  } else {
    h = seed + XXH_P5;
  }
  h += (uint64_t)n;
  for (; p + 8 <= end; p += 8) h = rotl64(h ^ xxh_round(0, load64(p)), 27) * XXH_P1 + XXH_P4;
  if (p + 4 <= end) {
    h = rotl64(h ^ ((uint64_t)load32(p) * XXH_P1), 23) * XXH_P2 + XXH_P3;
    p += 4;
  }
  for (; p < end; p++) h = rotl64(h ^ ((uint64_t)*p * XXH_P5), 11) * XXH_P1;
  h ^= h >> 33;
  h *= XXH_P2;
  h ^= h >> 29;
  h *= XXH_P3;
  h ^= h >> 32;
  return h;
}

/*
 * xxh64Into(data, seedLo, seedHi, out, index): the XXH64 of `data` (a Uint8Array) with the
 * seed seedHi·2^32 + seedLo, written to out[2·index] (low 32 bits) and out[2·index + 1] (high)
 * of `out`, a Uint32Array. Nothing is allocated: one call an entry costs ~100 ns.
 */
static napi_value Xxh64Into(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv)) return NULL;
  napi_typedarray_type type;
  size_t length, out_length;
  void* data;
  void* out_data;
  bool is_typed;
  if (napi_is_typedarray(env, argv[0], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) {
    return throw_range(env, "xxh64Into: data must be a Uint8Array");
  }
  if (napi_is_typedarray(env, argv[3], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[3], &type, &out_length, &out_data, NULL, NULL) != napi_ok || type != napi_uint32_array) {
    return throw_range(env, "xxh64Into: out must be a Uint32Array");
  }
  uint64_t lo, hi, index;
  if (!get_whole(env, argv[1], UINT32_MAX, "seedLo", &lo) || !get_whole(env, argv[2], UINT32_MAX, "seedHi", &hi) ||
      !get_whole(env, argv[4], MAX_SAFE, "index", &index)) {
    return NULL;
  }
  if (out_length < 2 || index > (out_length - 2) / 2) return throw_range(env, "xxh64Into: index is past the end of out");
  /* A detached or empty view has no data pointer: hash zero bytes. */
  uint64_t h = xxh64(length == 0 ? (const uint8_t*)"" : data, length, (hi << 32) | lo);
  uint32_t* o = out_data;
  o[2 * index] = (uint32_t)h;
  o[2 * index + 1] = (uint32_t)(h >> 32);
  return NULL;
}

/* ---- module ------------------------------------------------------------------------ */

static void finalize_instance(napi_env env, void* data, void* hint) {
  instance* inst = data;
  free(inst->copy_buffer);
  free(inst->gather_buffer);
  free(inst->iovecs);
  free(inst->zeros);
  free(inst);
}

NAPI_MODULE_INIT() {
  instance* inst = calloc(1, sizeof *inst);
  if (inst == NULL || napi_set_instance_data(env, inst, finalize_instance, NULL) != napi_ok) {
    free(inst);
    napi_throw_error(env, NULL, "lwlog_native: cannot allocate its state");
    return NULL;
  }
  napi_value page;
  napi_create_int64(env, sysconf(_SC_PAGESIZE), &page);
  napi_property_descriptor props[] = {
      {"pageSize", NULL, NULL, NULL, NULL, page, napi_enumerable, NULL},
      {"map", NULL, Map, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unmap", NULL, Unmap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"copyFileRange", NULL, CopyFileRange, NULL, NULL, NULL, napi_enumerable, NULL},
      {"copyRanges", NULL, CopyRanges, NULL, NULL, NULL, napi_enumerable, NULL},
      {"punchHole", NULL, PunchHole, NULL, NULL, NULL, napi_enumerable, NULL},
      {"zeroRange", NULL, ZeroRange, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blockZeroOut", NULL, BlockZeroOut, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blockDiscard", NULL, BlockDiscard, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blockDeviceSize", NULL, BlockDeviceSize, NULL, NULL, NULL, napi_enumerable, NULL},
      {"xxh64Into", NULL, Xxh64Into, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekData", NULL, SeekData, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekHole", NULL, SeekHole, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof *props, props) != napi_ok) return NULL;
  return exports;
}
