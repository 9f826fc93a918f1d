/* duocl's ranks: one process per device, started by an MPI launcher
 * (mpirun -np N duocl train CONFIG). Without MPI in the build, or when the
 * program was not started by a launcher, there is one rank and nothing here
 * talks to anyone: every call is then a no-op or the identity.
 *
 * A program calls duo_comm_init first (before anything that uses a device)
 * and duo_comm_finalize last. The collectives the library uses between ranks
 * (sums of gradients, gathers of results) are internal (host/base/comm.h). */
#ifndef DUOCL_COMM_H
#define DUOCL_COMM_H

#include <stdbool.h>
#include <stdint.h>

#include "duocl/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Starts MPI (MPI_Init) when duocl was built with MPI and the environment
 * says a launcher started this process (OMPI_COMM_WORLD_SIZE, PMIX_RANK or
 * PMI_SIZE is set); otherwise one rank, no MPI. Fails (DUO_ERR_CONFIG) when a
 * launcher asked for more than one process and duocl was built without MPI:
 * the processes would each think they are alone and write the same files.
 * argc/argv may be NULL. Calling it twice is harmless. */
duo_status duo_comm_init(int *argc, char ***argv);

/* Ends MPI (MPI_Finalize) if duo_comm_init started it. Every rank must call
 * it (it waits for the others); a program that failed on one rank alone
 * calls duo_comm_abort instead. */
void duo_comm_finalize(void);

/* For programs, never called by the library: stops every rank with `code`
 * (MPI_Abort) when more than one rank runs; returns when there is one rank
 * (the caller then exits as usual). */
void duo_comm_abort(int code);

/* True when the last failure is one every rank reached at the same point
 * (a stop request shared with duo_comm_any, a diverged global loss, a
 * parameter mismatch found by all): the ranks then end normally, each
 * calling duo_comm_finalize, instead of duo_comm_abort. */
bool duo_comm_failed_together(void);

int duo_comm_rank(void);        /* 0..size-1; 0 with one rank */
int duo_comm_size(void);        /* number of ranks; 1 without MPI */
int duo_comm_local_rank(void);  /* rank among the ranks on this machine */
int duo_comm_local_size(void);  /* ranks on this machine */
bool duo_comm_active(void);     /* size > 1 or MPI initialised */
bool duo_comm_built_with_mpi(void);

/* What the float/double sums (the gradient all-reduce) cost since start:
 * calls, bytes summed per rank (the buffer's size, not the bytes on the wire),
 * seconds spent inside them (wall clock, including waiting for the slowest
 * rank). Zero with one rank (the sums return at once). */
typedef struct duo_comm_stats {
    uint64_t sum_calls;
    uint64_t sum_bytes;
    double sum_seconds;
} duo_comm_stats;
void duo_comm_get_stats(duo_comm_stats *out);
void duo_comm_reset_stats(void);

#ifdef __cplusplus
}
#endif
#endif
