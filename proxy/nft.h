/*
 * nft.h: "mtlsd nft -c FILE": the node's nftables rules, derived from the
 * config, for nftables.service to load before mtlsd starts.
 */
#ifndef MTLSD_PROXY_NFT_H
#define MTLSD_PROXY_NFT_H

#include <stdio.h>

#include "config/config.h"

/* Writes the rule set for cfg to out.  Returns 0, or -1 after printing
 * "FILE:LINE: message" to errs (a transparent route without redirect). */
int nft_write(const struct config *cfg, FILE *out, FILE *errs);

/* Loads the config and prints its rule set.  Returns the exit status. */
int nft_run(const char *config_path);

#endif /* MTLSD_PROXY_NFT_H */
