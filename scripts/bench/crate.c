/* SPDX-License-Identifier: GPL-2.0
 *
 * The loop rate-wl's top speed is timed against:
 *   crate SIZE N   malloc(SIZE) and free it, N times, as fast as it can:
 *                  what `rate-wl --rate max --calls N SIZE` does (its live set
 *                  of one block), without the pacing, the counts or the report.
 * Built with gcc -O2 (at -O0 the loop's own overhead would be C's handicap);
 * the pointer goes through a volatile so the pair is not optimized away.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	char *end1, *end2;
	unsigned long long size, n, i;
	void *volatile p;

	if (argc != 3) {
		fprintf(stderr, "usage: crate SIZE N\n");
		return 2;
	}
	size = strtoull(argv[1], &end1, 10);
	n = strtoull(argv[2], &end2, 10);
	if (*end1 || *end2 || size == 0 || n == 0) {
		fprintf(stderr, "crate: bad SIZE or N\n");
		return 2;
	}
	for (i = 0; i < n; i++) {
		p = malloc(size);
		if (!p) {
			fprintf(stderr, "crate: malloc(%llu) failed\n", size);
			return 3;
		}
		free(p);
	}
	return 0;
}
