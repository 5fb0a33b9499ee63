/*
 * check.h: "mtlsd check -c FILE".
 */
#ifndef MTLSD_PROXY_CHECK_H
#define MTLSD_PROXY_CHECK_H

/* Validates the config and every route's certificates and keys, tries what
 * run would do before serving (resolve and bind-test listen addresses on
 * port 0, open the audit log, kernel TLS where it is required), and, with
 * user =, what a reload needs as that user (check_access.h).  Prints
 * "FILE:LINE: message" for each problem, "FILE:LINE: warning: ..." for what
 * will not stop the start.  Returns 0 when all is well, else 1. */
int check_run(const char *config_path);

#endif /* MTLSD_PROXY_CHECK_H */
