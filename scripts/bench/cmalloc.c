/* SPDX-License-Identifier: GPL-2.0
 *
 * The C programs the workloads are timed against.
 *   cmalloc SIZE          malloc(SIZE), free: what malloc-wl does, in plain C
 *   cmalloc SIZE memset   malloc(SIZE), memset to 0, free: the cost of faulting
 *                         in SIZE bytes of fresh memory, bytearray-wl's floor
 * Built with gcc -O0, like the suite's original C workload, so nothing is elided.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	char *end;
	unsigned long long size;
	void *p;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: cmalloc SIZE [memset]\n");
		return 2;
	}
	size = strtoull(argv[1], &end, 10);
	if (*end || size == 0) {
		fprintf(stderr, "cmalloc: bad size '%s'\n", argv[1]);
		return 2;
	}
	p = malloc(size);
	if (!p) {
		fprintf(stderr, "cmalloc: malloc(%llu) failed\n", size);
		return 3;
	}
	if (argc == 3)
		memset(p, 0, size);
	free(p);
	return 0;
}
