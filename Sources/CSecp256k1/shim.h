#ifndef CSECP256K1_SHIM_H
#define CSECP256K1_SHIM_H
#include <secp256k1.h>
#include <secp256k1_recovery.h>

/* Swift 6 strict concurrency rejects references to the imported C global
   `secp256k1_context_static`; an accessor function keeps it usable. */
static inline const secp256k1_context *csecp256k1_context_static(void) {
    return secp256k1_context_static;
}
#endif
