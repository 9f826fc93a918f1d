/* Inside the device layer's tuner (duocl/tune.h): the child-process runner
 * it starts CLBlast's tuners and its timing processes with, which `duocl tune`
 * also uses to time `duocl bench` before and after. */
#ifndef DUOCL_DEVICE_TUNER_H
#define DUOCL_DEVICE_TUNER_H

#include "duocl/tune.h"

/* Runs argv (argv[0] a path) as a child process and waits for it. With dir,
 * the child runs there with stdout and stderr going to dir/log.txt and stdin
 * from /dev/null; with seconds > 0 it is killed after that long. Returns its
 * exit status, -2 when it was killed on time, -1 when it did not start or did
 * not exit normally. */
int duo_run_child(char *const argv[], const char *dir, double seconds);

#endif
