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

#include "gather.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/loop.h>
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
#include <unistd.h>

/* The largest mapping one call makes (1 GiB and room to align it): windows, not whole files. */
#define MAX_MAP_BYTES (((uint64_t)1 << 30) + ((uint64_t)1 << 16))
/* Largest safe integer of a JS number: positions and lengths must stay below it. */
#define MAX_SAFE ((uint64_t)9007199254740991ULL)
/* Bytes copied through user space at a time when copy_file_range cannot be used. */
#define COPY_BUFFER_BYTES ((size_t)1 << 20)
typedef struct {
  void* addr; /* NULL once unmapped */
  size_t length;
} mapping;

/* Per-environment state (each worker thread has its own): the copy fallback's buffer, and
 * copyRanges' buffers and io_uring ring (gather.c; allocated when first needed). */
typedef struct {
  uint8_t* copy_buffer;
  gather_env* gather;
  /* copyRanges may use io_uring (useIoUring). */
  bool io_uring;
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

/* A whole number in [0, MAX_SAFE] held in a double (-1 allowed when `zero_ok`). */
static bool whole_double(double d, bool zero_ok) {
  if (zero_ok && d == -1) return true;
  return isfinite(d) && d >= 0 && d == floor(d) && d <= (double)MAX_SAFE;
}

/*
 * copyRanges(fdIn, fdOut, ranges, count, state) -> ranges copied. `ranges` is a Float64Array
 * of `count` triples [dst, src, len]: `len` bytes of fdIn at `src` to fdOut at `dst`, or
 * zeros when `src` is -1; in ascending `dst` order they are written as a few large writes
 * (gather.c: batches through io_uring when the kernel allows it). Ranges of 1 MiB or more go
 * through copy_file_range while state[0] (an Int32Array) is non-zero; it is cleared when the
 * kernel refuses. Returns
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
  if (inst->gather == NULL) {
    if ((inst->gather = gather_env_new()) == NULL) return throw_errno(env, ENOMEM, "malloc");
    gather_use_io_uring(inst->gather, inst->io_uring);
  }
  gather_result res = gather_copy(inst->gather, in_fd, out_fd, r, count, state);
  if (res.err != 0) return throw_errno(env, res.err, res.failed);
  return make_number(env, (double)res.done);
}

/*
 * useIoUring(enable) -> boolean: whether copyRanges may use io_uring (default true, when the
 * kernel allows it); returns whether it does. For tests, and LWLOG_NO_IO_URING.
 */
static napi_value UseIoUring(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  bool enable;
  if (napi_get_value_bool(env, argv[0], &enable) != napi_ok) return throw_range(env, "useIoUring: enable must be a boolean");
  instance* inst = NULL;
  if (napi_get_instance_data(env, (void**)&inst) != napi_ok || inst == NULL) return throw_errno(env, EFAULT, "napi_get_instance_data");
  inst->io_uring = enable;
  if (inst->gather == NULL && (inst->gather = gather_env_new()) == NULL) return throw_errno(env, ENOMEM, "malloc");
  return make_bool(env, gather_use_io_uring(inst->gather, enable));
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
 * loopBacking(fd) -> { major, minor, inode (bigint), offset, sizeLimit, device } | null: LOOP_GET_STATUS64,
 * what a loop device reads and writes (the backing file's device and inode, which stay right
 * when the file is renamed or unlinked, unlike sysfs' backing_file path). null for a block
 * device that is not a loop device, or a loop device with nothing bound to it.
 */
static napi_value LoopBacking(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int fd;
  if (!get_args(env, info, 1, argv) || !get_fd(env, argv[0], &fd)) return NULL;
  struct loop_info64 li;
  memset(&li, 0, sizeof li);
  if (ioctl(fd, LOOP_GET_STATUS64, &li) != 0) {
    if (errno == ENXIO || errno == ENOTTY || errno == EINVAL) {
      napi_value nothing;
      napi_get_null(env, &nothing);
      return nothing;
    }
    return throw_errno(env, errno, "ioctl(LOOP_GET_STATUS64)");
  }
  /* lo_device is the kernel's huge_encode_dev(): minor's low byte, major, then minor's high bits. */
  uint64_t dev = li.lo_device;
  uint32_t major = (uint32_t)((dev >> 8) & 0xfff);
  uint32_t minor = (uint32_t)((dev & 0xff) | ((dev >> 12) & 0xfff00));
  if (li.lo_offset > MAX_SAFE || li.lo_sizelimit > MAX_SAFE) return throw_range(env, "the loop device's offset or size limit is beyond 2^53");
  napi_value out, v;
  if (napi_create_object(env, &out) != napi_ok) return NULL;
  napi_create_uint32(env, major, &v);
  napi_set_named_property(env, out, "major", v);
  napi_create_uint32(env, minor, &v);
  napi_set_named_property(env, out, "minor", v);
  napi_create_bigint_uint64(env, li.lo_inode, &v);
  napi_set_named_property(env, out, "inode", v);
  napi_set_named_property(env, out, "offset", make_number(env, li.lo_offset));
  napi_set_named_property(env, out, "sizeLimit", make_number(env, li.lo_sizelimit));
  /* lo_rdevice: the backing file's st_rdev, non-zero when it is itself a device node. */
  if (li.lo_rdevice != 0) {
    napi_value d;
    if (napi_create_object(env, &d) != napi_ok) return NULL;
    napi_create_uint32(env, (uint32_t)((li.lo_rdevice >> 8) & 0xfff), &v);
    napi_set_named_property(env, d, "major", v);
    napi_create_uint32(env, (uint32_t)((li.lo_rdevice & 0xff) | ((li.lo_rdevice >> 12) & 0xfff00)), &v);
    napi_set_named_property(env, d, "minor", v);
    napi_set_named_property(env, out, "device", d);
  }
  return out;
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
  gather_env_free(inst->gather);
  free(inst);
}

NAPI_MODULE_INIT() {
  instance* inst = calloc(1, sizeof *inst);
  if (inst != NULL) inst->io_uring = true;
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
      {"useIoUring", NULL, UseIoUring, NULL, NULL, NULL, napi_enumerable, NULL},
      {"punchHole", NULL, PunchHole, NULL, NULL, NULL, napi_enumerable, NULL},
      {"zeroRange", NULL, ZeroRange, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blockZeroOut", NULL, BlockZeroOut, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blockDiscard", NULL, BlockDiscard, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blockDeviceSize", NULL, BlockDeviceSize, NULL, NULL, NULL, napi_enumerable, NULL},
      {"loopBacking", NULL, LoopBacking, NULL, NULL, NULL, napi_enumerable, NULL},
      {"xxh64Into", NULL, Xxh64Into, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekData", NULL, SeekData, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seekHole", NULL, SeekHole, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof *props, props) != napi_ok) return NULL;
  return exports;
}
