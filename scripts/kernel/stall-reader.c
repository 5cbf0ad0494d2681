// SPDX-License-Identifier: GPL-2.0
/*
 * stall-reader: checks that a reader stalled in the copy to user space of a
 * read(2) of FILE does not hold up writers of FILE.
 *
 * Usage: stall-reader FILE [WRITE]   (WRITE defaults to "64")
 *
 * A thread reads FILE into a page registered with userfaultfd, so the kernel's
 * copy to user space faults and waits until this program resolves the fault.
 * Once the fault is reported, another thread opens FILE and writes WRITE on
 * it, then closes it. The program waits up to 3 s for that writer, then
 * resolves the fault and waits for both threads.
 *
 * Exit status: 0 the writer finished while the reader was stalled, 1 it did
 * not (it waited for the reader), 2 setup failed (e.g. no userfaultfd).
 * One line per step on stdout, for the test's log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *path;
static const char *text = "64";
static char *page;
static long page_size;
static ssize_t read_ret;
static int read_errno;
static volatile int write_done;
static ssize_t write_ret;
static int write_errno;

static void die(const char *what)
{
	printf("stall-reader: %s: %s\n", what, strerror(errno));
	exit(2);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *reader(void *arg)
{
	int fd = open(path, O_RDONLY);

	(void)arg;
	if (fd < 0)
		die("open for reading");
	read_ret = read(fd, page, page_size);
	read_errno = errno;
	close(fd);
	return NULL;
}

static void *writer(void *arg)
{
	int fd = open(path, O_WRONLY);

	(void)arg;
	if (fd < 0)
		die("open for writing");
	write_ret = write(fd, text, strlen(text));
	write_errno = errno;
	close(fd);
	write_done = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { 0 };
	struct uffdio_copy copy = { 0 };
	struct uffd_msg msg;
	struct pollfd pfd;
	pthread_t rt, wt;
	double start, waited;
	char *zeros;
	int uffd, stalled_write;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: stall-reader FILE [WRITE]\n");
		return 2;
	}
	path = argv[1];
	if (argc == 3)
		text = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = sysconf(_SC_PAGESIZE);

	/* Without UFFD_USER_MODE_ONLY, so that faults in the kernel's copy wait too. */
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0)
		die("userfaultfd");
	if (ioctl(uffd, UFFDIO_API, &api) < 0)
		die("UFFDIO_API");
	page = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	zeros = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED || zeros == MAP_FAILED)
		die("mmap");
	zeros[0] = 0; /* populate the source page of UFFDIO_COPY */
	reg.range.start = (unsigned long)page;
	reg.range.len = page_size;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		die("UFFDIO_REGISTER");

	if (pthread_create(&rt, NULL, reader, NULL))
		die("pthread_create");
	/* Wait (up to 30 s) for the reader's fault: it is now inside read(2). */
	pfd.fd = uffd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 30000) != 1)
		die("no page fault of the reader within 30 s");
	if (read(uffd, &msg, sizeof(msg)) != sizeof(msg))
		die("read of the userfaultfd");
	if (msg.event != UFFD_EVENT_PAGEFAULT)
		die("unexpected userfaultfd event");
	printf("stall-reader: reader stalled in the copy to user space (fault at page %s)\n",
	       (msg.arg.pagefault.address & ~(page_size - 1)) == (unsigned long)page ? "ok" : "??");

	start = now();
	if (pthread_create(&wt, NULL, writer, NULL))
		die("pthread_create");
	while (!write_done && now() - start < 3.0)
		usleep(10000);
	waited = now() - start;
	stalled_write = !write_done;
	if (stalled_write)
		printf("stall-reader: the writer did not finish in %.1f s while the reader was stalled\n",
		       waited);
	else
		printf("stall-reader: the writer finished in %.3f s while the reader was stalled (write returned %zd%s%s)\n",
		       waited, write_ret, write_ret < 0 ? ": " : "",
		       write_ret < 0 ? strerror(write_errno) : "");

	copy.dst = (unsigned long)page;
	copy.src = (unsigned long)zeros;
	copy.len = page_size;
	if (ioctl(uffd, UFFDIO_COPY, &copy) < 0)
		die("UFFDIO_COPY");
	pthread_join(rt, NULL);
	pthread_join(wt, NULL);
	if (read_ret < 0)
		printf("stall-reader: the read failed after the fault was resolved: %s\n",
		       strerror(read_errno));
	else
		printf("stall-reader: the read returned %zd bytes after the fault was resolved, starting '%.5s'\n",
		       read_ret, page);
	if (stalled_write)
		return 1;
	return read_ret > 0 && write_ret == (ssize_t)strlen(text) ? 0 : 1;
}
