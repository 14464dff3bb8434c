#include <cblas.h>

// LAPACK's SVD-based least-squares solver, which libopenblas exports (Debian ships no lapack.h beside cblas.h).
// Column-major, Fortran calling convention; used by `yard prune` to re-fit a layer.
void sgelsd_(const int *m, const int *n, const int *nrhs, float *a, const int *lda, float *b, const int *ldb, float *s,
             const float *rcond, int *rank, float *work, const int *lwork, int *iwork, int *info);
