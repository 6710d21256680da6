{
  "targets": [
    {
      "target_name": "lwlog_native",
      "sources": [
        "csrc/lwlog_native.c",
        "csrc/gather.c"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "_GNU_SOURCE",
        "_FILE_OFFSET_BITS=64"
      ],
      "cflags": [
        "-std=gnu11",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
        "-Werror=implicit-function-declaration"
      ]
    }
  ]
}
