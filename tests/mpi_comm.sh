#!/bin/bash
# The collectives (host/base/comm.c) with 1, 2 and 3 ranks: tests/mpi_comm_check.c.
# usage: mpi_comm.sh MPIRUN CHECK_BINARY
set -u
mpirun=$1 check=$2
export OMPI_MCA_rmaps_base_oversubscribe=1 POCL_MAX_PTHREAD_COUNT=1
status=0
for n in 1 2 3; do
    if timeout 120 "$mpirun" --allow-run-as-root --oversubscribe -np "$n" "$check"; then
        echo "  ok    $n ranks"
    else
        echo "  FAIL  $n ranks"
        status=1
    fi
done
# Without a launcher: one rank, no MPI.
if "$check"; then echo "  ok    no launcher"; else echo "  FAIL  no launcher"; status=1; fi
exit $status
