{
  "targets": [
    {
      "target_name": "covey_native",
      "conditions": [
        ["OS=='linux'", { "sources": ["src/rtmfp/native/covey_native.c"] }]
      ],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
