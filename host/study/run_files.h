/* The names of the files in a run folder, spelled here and nowhere else
 * (plain names, no code: the report layer reads them too).
 *
 *   RUN/config.json               the resolved config            (study/train.c)
 *   RUN/log.jsonl                 training and validation log    (study/train.c)
 *   RUN/checkpoints/latest.ckpt   resumable checkpoint           (study/train.c)
 *   RUN/checkpoints/final.ckpt    the trained model              (study/train.c)
 *   RUN/eval.json                 routed evaluations             (study/eval_stage.c)
 *   RUN/oracle.json               the oracle's search            (study/oracle_stage.c)
 *   RUN/oracle_tokens.bin         the oracle's per-token losses  (study/oracle_tokens.h)
 *   RUN/difficulty.json           token difficulty at L/2        (study/difficulty_stage.c)
 *   RUN/difficulty-k1.json        the same at budget 1           (pipeline/study.c)
 *   RUN/router/k<K>-<A>/          a router: router.ckpt, latest.ckpt, log.jsonl
 *                                                                (study/router_train.c)
 *   RUN/router/k<K>-<A>[-oracle][-s<S>]/  the same, of the oracle teacher and
 *                                 other seeds (duo_router_train_dir)
 *   RUN/router/k<K>-SB-signal/signal.json  a signal router  (study/signal_router.c)
 *   RUN/router/oracle-pool-k<K>-w<P>.bin   the oracle teacher's searched training
 *                                 windows, kept for the other seeds (study/router_teacher.c)
 *   RUN/report.html               the report                     (report/)
 *   RUN/study/<stage>.done        markers of finished study stages (pipeline/study.c) */
#ifndef DUOCL_HOST_RUN_FILES_H
#define DUOCL_HOST_RUN_FILES_H

#define DUO_RUN_CONFIG "config.json"
#define DUO_RUN_LOG "log.jsonl"
#define DUO_RUN_CHECKPOINTS "checkpoints"
#define DUO_RUN_LATEST_CHECKPOINT "checkpoints/latest.ckpt"
#define DUO_RUN_FINAL_CHECKPOINT "checkpoints/final.ckpt"
#define DUO_RUN_EVAL "eval.json"
#define DUO_RUN_ORACLE "oracle.json"
#define DUO_RUN_ORACLE_TOKENS "oracle_tokens.bin"
#define DUO_RUN_DIFFICULTY "difficulty.json"
#define DUO_RUN_DIFFICULTY_BUDGET1 "difficulty-k1.json"
#define DUO_RUN_REPORT "report.html"
#define DUO_RUN_ROUTERS "router"
#define DUO_RUN_STUDY_MARKERS "study"
/* Inside a router's folder. */
#define DUO_ROUTER_MODEL "router.ckpt"
#define DUO_ROUTER_LATEST "latest.ckpt"
#define DUO_ROUTER_LOG "log.jsonl"
#define DUO_ROUTER_SIGNAL "signal.json" /* in k<K>-SB-signal/ */
#define DUO_ROUTER_TEACHER_POOL "oracle-pool-k%d-w%d.bin" /* in router/: budget, windows */

#endif
