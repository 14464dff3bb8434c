// The system resolver's DNS query (glibc's libresolv): res_search applies /etc/resolv.conf's nameservers, search
// domains and ndots, and retries over TCP when an answer is truncated. res_search and h_errno are macros, which
// Swift cannot call, hence these wrappers.
#include <netinet/in.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>

/// Queries `name` for records of `type` (class IN); the answer's length, or -1 with the reason in *error (h_errno).
static inline int switchyard_res_search(const char *name, int type, unsigned char *answer, int length, int *error) {
    int result = res_search(name, C_IN, type, answer, length);
    *error = result < 0 ? h_errno : 0;
    return result;
}
