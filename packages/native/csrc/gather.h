/*
 * copyRanges' engine: many ranges of one file copied to another in few system calls. Plain C
 * (no Node-API), so that lwlog_native.c keeps the argument checks and the errors.
 */
#ifndef LWLOG_GATHER_H
#define LWLOG_GATHER_H

#include <stdbool.h>
#include <stdint.h>

/* Buffers, iovecs and the io_uring ring, kept between calls (one per Node-API environment). */
typedef struct gather_env gather_env;

gather_env* gather_env_new(void);
void gather_env_free(gather_env* env);

/* Whether copies use io_uring (when the kernel allows it); `enable` false turns it off. Returns whether it is in use. */
bool gather_use_io_uring(gather_env* env, bool enable);

/* What gather_copy did. */
typedef struct {
  /* Ranges copied: `count`, or fewer when the input ended first (the ranges before it are written). */
  uint64_t done;
  /* 0, or the errno of a failed system call, named by `failed`. */
  int err;
  const char* failed;
} gather_result;

/*
 * Copies `count` ranges [dst, src, len] (doubles: whole numbers, checked by the caller; src -1
 * for zeros) from in_fd to out_fd, in ascending dst order. `state` (may be NULL): state[0]
 * non-zero lets ranges of 1 MiB or more go through copy_file_range; cleared when the kernel
 * refuses.
 */
gather_result gather_copy(gather_env* env, int in_fd, int out_fd, const double* ranges, uint64_t count, int32_t* state);

#endif
