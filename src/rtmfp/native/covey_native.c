// Covey's optional native accelerator for the RTMFP send path (Linux). Node offers neither a
// cipher or MAC that writes into a given buffer nor a way to hand the kernel many datagrams in
// one system call; on a fan-out server those cost more than the packets' own assembly. This
// file supplies them, and nothing else: the engine works the same without it (native-accel.ts
// loads it when it was built, and the pure TypeScript path is used otherwise).
//
//   encrypt(key: Buffer(16), buf, start, end)    encrypts buf[start..end) in place: AES-128-CBC, zero IV
//   decrypt(key: Buffer(16), src, start, end, dst, at)   decrypts src[start..end) into dst[at..]: AES-128-CBC, zero IV
//   hmacSha256(key, buf, start, end, out, at, n)  the first n bytes of HMAC-SHA256(key, buf[start..end)) into out[at..]
//   sendBatch(fd, stage, meta, count, stats, segment)   sendmmsg() of `count` datagrams from `stage`
//
// HMAC is for peers that negotiate it (RFC 7425 §4.6.4; rtmfp-cpp's do): node:crypto makes an
// object, a digest buffer and a slice for each, 3.4 us for a full packet here.
//
// One OpenSSL context serves every key: setting a key costs about 90 ns a packet (measured: 1,017
// against 930 ns for a 1,136-byte packet), where a context per session costs about 1.1 KB of
// memory per subscriber. Decryption has a context of its own, for the same reason.
//
// `meta` holds 8 int32s a datagram: offset and length in `stage`, family (4 or 6), port, then
// the address: the IPv4 address as one number in slot 4, or the 16 IPv6 bytes as 4 big-endian
// words in slots 4-7. sendBatch answers how many datagrams it is done with, sent or failed for
// good; it stops early, without error, when the socket's send buffer is full, leaving the rest
// to the caller. It adds to `stats`: [0] datagrams failed for good, [1] messages the kernel took
// (a run of datagrams to one destination, segmented, is one), and sets [2] to 1 if the kernel
// refused to segment (then pass segment = false from there on; see segmentation_refused).
#define _GNU_SOURCE
#include <node_api.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define META_SLOTS 8
#define STATS_SLOTS 3
#define BATCH 64
/** Datagrams a segmented send may carry (the kernel's UDP_MAX_SEGMENTS), and bytes in all. */
#define MAX_SEGMENTS 64
#define MAX_SEGMENTED_BYTES 60000
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103 /* linux/udp.h, since Linux 4.18 */
#endif

static napi_value fail(napi_env env, const char* message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static const unsigned char ZERO_IV[16] = {0};

/** What one instance of the addon (one per thread that loads it) keeps: a context of each kind. */
typedef struct {
  EVP_CIPHER_CTX* cipher;
  EVP_CIPHER_CTX* decipher;
  EVP_MAC_CTX* mac;
} Contexts;

static void free_contexts(Contexts* c) {
  if (c == NULL) return;
  EVP_CIPHER_CTX_free(c->cipher);
  EVP_CIPHER_CTX_free(c->decipher);
  EVP_MAC_CTX_free(c->mac);
  free(c);
}

static void finalize_contexts(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  free_contexts((Contexts*)data);
}

static Contexts* make_contexts(void) {
  Contexts* c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->cipher = EVP_CIPHER_CTX_new();
  c->decipher = EVP_CIPHER_CTX_new();
  EVP_MAC* hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (hmac != NULL) c->mac = EVP_MAC_CTX_new(hmac);
  EVP_MAC_free(hmac); // the context keeps its own reference
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (c->cipher == NULL || c->decipher == NULL || c->mac == NULL ||
      EVP_EncryptInit_ex(c->cipher, EVP_aes_128_cbc(), NULL, NULL, NULL) != 1 ||
      EVP_DecryptInit_ex(c->decipher, EVP_aes_128_cbc(), NULL, NULL, NULL) != 1 || EVP_MAC_CTX_set_params(c->mac, params) != 1) {
    free_contexts(c);
    return NULL;
  }
  EVP_CIPHER_CTX_set_padding(c->cipher, 0);
  // Without padding, a decryption hands back every block at once (none is held for the final call).
  EVP_CIPHER_CTX_set_padding(c->decipher, 0);
  return c;
}

static napi_value encrypt(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  Contexts* contexts;
  unsigned char* key;
  size_t key_length;
  unsigned char* buf;
  size_t length;
  uint32_t start, end;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_instance_data(env, (void**)&contexts) != napi_ok || contexts == NULL ||
      napi_get_buffer_info(env, argv[0], (void**)&key, &key_length) != napi_ok || key_length != 16 ||
      napi_get_buffer_info(env, argv[1], (void**)&buf, &length) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &start) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &end) != napi_ok) {
    return fail(env, "encrypt wants (key: 16-byte Buffer, buffer, start, end)");
  }
  if (start > end || end > length || (end - start) % 16 != 0) {
    return fail(env, "encrypt: the range must be whole blocks inside the buffer");
  }
  int written = 0;
  // A fresh zero-IV run under this key; OpenSSL encrypts in place when input and output coincide.
  EVP_CIPHER_CTX* ctx = contexts->cipher;
  if (EVP_EncryptInit_ex(ctx, NULL, NULL, key, ZERO_IV) != 1 ||
      EVP_EncryptUpdate(ctx, buf + start, &written, buf + start, (int)(end - start)) != 1) {
    return fail(env, "encrypt: OpenSSL failed");
  }
  return NULL;
}

static napi_value decrypt(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  Contexts* contexts;
  unsigned char *key, *src, *dst;
  size_t key_length, src_length, dst_length;
  uint32_t start, end, at;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 ||
      napi_get_instance_data(env, (void**)&contexts) != napi_ok || contexts == NULL ||
      napi_get_buffer_info(env, argv[0], (void**)&key, &key_length) != napi_ok || key_length != 16 ||
      napi_get_buffer_info(env, argv[1], (void**)&src, &src_length) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &start) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &end) != napi_ok ||
      napi_get_buffer_info(env, argv[4], (void**)&dst, &dst_length) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &at) != napi_ok) {
    return fail(env, "decrypt wants (key: 16-byte Buffer, source, start, end, target, at)");
  }
  if (start > end || end > src_length || (end - start) % 16 != 0) {
    return fail(env, "decrypt: the range must be whole blocks inside the source");
  }
  if (at > dst_length || dst_length - at < end - start) return fail(env, "decrypt: the target has no room for the plaintext");
  // In place is fine; a target partly over the source would overwrite ciphertext the chain still needs.
  const unsigned char* from = src + start;
  unsigned char* to = dst + at;
  size_t n = end - start;
  if (to != from && to < from + n && from < to + n) return fail(env, "decrypt: source and target overlap");
  int written = 0;
  EVP_CIPHER_CTX* ctx = contexts->decipher;
  if (EVP_DecryptInit_ex(ctx, NULL, NULL, key, ZERO_IV) != 1 ||
      EVP_DecryptUpdate(ctx, to, &written, from, (int)n) != 1 || written != (int)n) {
    return fail(env, "decrypt: OpenSSL failed");
  }
  return NULL;
}

static napi_value hmac_sha256(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  Contexts* contexts;
  unsigned char *key, *buf, *out;
  size_t key_length, length, out_length;
  uint32_t start, end, at, n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7 ||
      napi_get_instance_data(env, (void**)&contexts) != napi_ok || contexts == NULL ||
      napi_get_buffer_info(env, argv[0], (void**)&key, &key_length) != napi_ok ||
      napi_get_buffer_info(env, argv[1], (void**)&buf, &length) != napi_ok ||
      napi_get_value_uint32(env, argv[2], &start) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &end) != napi_ok ||
      napi_get_buffer_info(env, argv[4], (void**)&out, &out_length) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &at) != napi_ok ||
      napi_get_value_uint32(env, argv[6], &n) != napi_ok) {
    return fail(env, "hmacSha256 wants (key, buffer, start, end, out, at, length)");
  }
  if (start > end || end > length) return fail(env, "hmacSha256: the range must lie inside the buffer");
  if (n > 32 || at > out_length || out_length - at < n) return fail(env, "hmacSha256: at most 32 bytes, inside out");
  unsigned char digest[32];
  size_t digest_length = 0;
  EVP_MAC_CTX* mac = contexts->mac;
  if (EVP_MAC_init(mac, key, key_length, NULL) != 1 || EVP_MAC_update(mac, buf + start, end - start) != 1 ||
      EVP_MAC_final(mac, digest, &digest_length, sizeof digest) != 1 || digest_length != 32) {
    return fail(env, "hmacSha256: OpenSSL failed");
  }
  memcpy(out + at, digest, n);
  return NULL;
}

/** Whether two meta entries name the same destination (family, port and address words). */
static int same_destination(const int32_t* a, const int32_t* b) {
  return a[2] == b[2] && a[3] == b[3] && a[4] == b[4] && a[5] == b[5] && a[6] == b[6] && a[7] == b[7];
}

/**
 * Errors that mean the kernel or the route will not segment for us: no support (EINVAL,
 * ENOPROTOOPT, EOPNOTSUPP), a device without checksum offload (EIO), or a segment larger than
 * the route's MTU (EMSGSIZE; unsegmented, such a datagram is fragmented instead). The batch then
 * stops segmenting on that socket altogether, for every destination: simple, and RTMFP's
 * packets are sized to fit IPv6's minimum MTU, so a route this refuses is a rare one.
 */
static int segmentation_refused(int error) {
  return error == EIO || error == EINVAL || error == ENOPROTOOPT || error == EOPNOTSUPP || error == EMSGSIZE;
}

static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  int32_t fd;
  unsigned char* stage;
  size_t stage_length;
  uint32_t count;
  bool segment;
  napi_typedarray_type meta_type, stats_type;
  size_t meta_length, stats_length;
  void* meta_data;
  void* stats_data;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_buffer_info(env, argv[1], (void**)&stage, &stage_length) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &meta_type, &meta_length, &meta_data, NULL, NULL) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &count) != napi_ok ||
      napi_get_typedarray_info(env, argv[4], &stats_type, &stats_length, &stats_data, NULL, NULL) != napi_ok ||
      napi_get_value_bool(env, argv[5], &segment) != napi_ok ||
      meta_type != napi_int32_array || stats_type != napi_int32_array || stats_length < STATS_SLOTS) {
    return fail(env, "sendBatch wants (fd, stage, meta: Int32Array, count, stats: Int32Array(3), segment: boolean)");
  }
  if ((size_t)count * META_SLOTS > meta_length) return fail(env, "sendBatch: count is beyond meta");
  const int32_t* meta = (const int32_t*)meta_data;
  int32_t* stats = (int32_t*)stats_data;
  for (uint32_t i = 0; i < count; i++) {
    const int32_t* m = meta + (size_t)i * META_SLOTS;
    if (m[0] < 0 || m[1] < 0 || (size_t)m[0] + (size_t)m[1] > stage_length) return fail(env, "sendBatch: a datagram lies outside the stage");
  }

  struct mmsghdr messages[BATCH];
  struct iovec parts[BATCH];
  struct sockaddr_in6 addresses[BATCH]; // large enough for either family
  union {
    char space[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } controls[BATCH];
  uint32_t spans[BATCH]; // datagrams in each message
  uint32_t done = 0;
  int alone_next = 0;    // send the next datagram by itself (to find which of a group failed)
  while (done < count) {
    uint32_t n = 0;
    for (uint32_t i = done; n < BATCH && i < count; n++) {
      const int32_t* m = meta + (size_t)i * META_SLOTS;
      uint32_t size = (uint32_t)m[1], total = size, j = i + 1;
      // A run to one destination, contiguous in the stage, of one size but for a shorter last:
      // the kernel cuts it into those datagrams (UDP segmentation offload) after one trip down
      // the stack, where each datagram would make its own.
      if (segment && !alone_next) {
        while (j < count && j - i < MAX_SEGMENTS) {
          const int32_t* q = meta + (size_t)j * META_SLOTS;
          if (!same_destination(m, q) || (uint32_t)q[0] != (uint32_t)m[0] + total || (uint32_t)q[1] > size ||
              q[1] == 0 || total + (uint32_t)q[1] > MAX_SEGMENTED_BYTES) {
            break;
          }
          total += (uint32_t)q[1];
          j++;
          if ((uint32_t)q[1] < size) break;
        }
      }
      alone_next = 0;
      spans[n] = j - i;
      parts[n].iov_base = stage + m[0];
      parts[n].iov_len = total;
      memset(&messages[n], 0, sizeof messages[n]);
      memset(&addresses[n], 0, sizeof addresses[n]);
      messages[n].msg_hdr.msg_iov = &parts[n];
      messages[n].msg_hdr.msg_iovlen = 1;
      messages[n].msg_hdr.msg_name = &addresses[n];
      if (m[2] == 4) {
        struct sockaddr_in* a = (struct sockaddr_in*)&addresses[n];
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)m[3]);
        a->sin_addr.s_addr = htonl((uint32_t)m[4]);
        messages[n].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
      } else {
        struct sockaddr_in6* a = &addresses[n];
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)m[3]);
        for (int w = 0; w < 4; w++) {
          uint32_t word = htonl((uint32_t)m[4 + w]);
          memcpy(&a->sin6_addr.s6_addr[4 * w], &word, 4);
        }
        messages[n].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
      }
      if (spans[n] > 1) {
        messages[n].msg_hdr.msg_control = controls[n].space;
        messages[n].msg_hdr.msg_controllen = sizeof controls[n].space;
        struct cmsghdr* c = CMSG_FIRSTHDR(&messages[n].msg_hdr);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t segment_size = (uint16_t)size;
        memcpy(CMSG_DATA(c), &segment_size, sizeof segment_size);
      }
      i = j;
    }
    int sent = sendmmsg(fd, messages, n, 0);
    if (sent > 0) {
      for (int k = 0; k < sent; k++) done += spans[k];
      stats[1] += sent;
      continue; // a short count: the next call reports what stopped it
    }
    if (sent == 0) break; // not expected of UDP; leave the rest to the caller rather than spin
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
    if (spans[0] > 1) {
      // A group failed: either this kernel or route will not segment (then say so, and send
      // one by one from here), or one datagram of it is refused, and sending them one at a
      // time finds which.
      if (segmentation_refused(errno)) {
        segment = false;
        stats[2] = 1;
      } else {
        alone_next = 1;
      }
      continue;
    }
    // This datagram cannot be sent (no route, refused address...): UDP may lose it; go on.
    stats[0]++;
    done++;
  }
  napi_value result;
  napi_create_uint32(env, done, &result);
  return result;
}

NAPI_MODULE_INIT() {
  Contexts* contexts = make_contexts();
  if (contexts == NULL || napi_set_instance_data(env, contexts, finalize_contexts, NULL) != napi_ok) {
    free_contexts(contexts);
    napi_throw_error(env, NULL, "covey_native: OpenSSL gave no AES-128-CBC or HMAC-SHA256 context");
    return NULL;
  }
  static const struct { const char* name; napi_callback fn; } functions[] = {
      {"encrypt", encrypt},
      {"decrypt", decrypt},
      {"hmacSha256", hmac_sha256},
      {"sendBatch", send_batch},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn) != napi_ok ||
        napi_set_named_property(env, exports, functions[i].name, fn) != napi_ok) {
      return NULL;
    }
  }
  return exports;
}
