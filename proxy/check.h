/*
 * check.h: "mtlsd check -c FILE".
 */
#ifndef MTLSD_PROXY_CHECK_H
#define MTLSD_PROXY_CHECK_H

/* Validates the config and every route's certificates and keys, printing
 * "FILE:LINE: message" for each problem.  Returns 0 when all is well, else 1. */
int check_run(const char *config_path);

#endif /* MTLSD_PROXY_CHECK_H */
