/* floor.c: the benchmark's reference point, not a DNS server.
 *
 * Answers every UDP query on 127.0.0.1:PORT with one A record (192.0.2.1,
 * TTL 300) after the question, using the same I/O pattern as wuguard's UDP
 * listener (epoll, one recvmmsg batch, one sendmmsg) and doing no DNS work
 * at all: no cache, no parsing beyond the question's end. Its CPU per query
 * is what the kernel charges a process for receiving and sending one
 * datagram on this machine, the floor under any resolver's cache-hit cost.
 * bench.py builds it with cc and runs it as the server "floor".
 *
 *   floor PORT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define BATCH 32
#define QMAX 512

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The answer to q (len bytes) in out; -1 if q is not a one-question query. */
static int answer(const uint8_t *q, int len, uint8_t *out)
{
	static const uint8_t rr[16] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1};
	int i = 12;
	if (len < 17 || len > QMAX || (q[2] & 0x80))
		return -1;
	while (i < len && q[i] && q[i] < 64)
		i += q[i] + 1;
	if (i >= len || q[i])
		return -1;
	i += 5;
	if (i > len)
		return -1;
	memcpy(out, q, (size_t)i);
	out[2] |= 0x80;              /* QR, RD kept */
	out[3] = 0x80;               /* RA, NOERROR */
	static const uint8_t counts[8] = {0, 1, 0, 1, 0, 0, 0, 0}; /* QD 1, AN 1; EDNS dropped */
	memcpy(out + 4, counts, sizeof(counts));
	memcpy(out + i, rr, sizeof(rr));
	return i + (int)sizeof(rr);
}

int main(int argc, char **argv)
{
	static struct mmsghdr in[BATCH], out[BATCH];
	static struct iovec iiov[BATCH], oiov[BATCH];
	static struct sockaddr_storage from[BATCH];
	static uint8_t ibuf[BATCH][QMAX + 1], obuf[BATCH][QMAX + 16];
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct epoll_event ev = {.events = EPOLLIN};
	int fd, ep;

	if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
		fprintf(stderr, "usage: floor PORT\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	a.sin_port = htons((uint16_t)atoi(argv[1]));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("floor: socket");
		return 1;
	}
	ep = epoll_create1(0);
	ev.data.fd = fd;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		perror("floor: epoll");
		return 1;
	}
	while (!stop) {
		struct epoll_event got;
		int n, nout = 0;
		if (epoll_wait(ep, &got, 1, 1000) <= 0)
			continue;
		for (int i = 0; i < BATCH; i++) {
			iiov[i].iov_base = ibuf[i];
			iiov[i].iov_len = sizeof(ibuf[i]);
			memset(&in[i].msg_hdr, 0, sizeof(in[i].msg_hdr));
			in[i].msg_hdr.msg_name = &from[i];
			in[i].msg_hdr.msg_namelen = sizeof(from[i]);
			in[i].msg_hdr.msg_iov = &iiov[i];
			in[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, in, BATCH, MSG_DONTWAIT, NULL);
		for (int i = 0; i < n; i++) {
			int len = answer(ibuf[i], (int)in[i].msg_len, obuf[nout]);
			if (len < 0)
				continue;
			oiov[nout].iov_base = obuf[nout];
			oiov[nout].iov_len = (size_t)len;
			memset(&out[nout].msg_hdr, 0, sizeof(out[nout].msg_hdr));
			out[nout].msg_hdr.msg_name = &from[i];
			out[nout].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
			out[nout].msg_hdr.msg_iov = &oiov[nout];
			out[nout].msg_hdr.msg_iovlen = 1;
			nout++;
		}
		if (nout > 0 && sendmmsg(fd, out, (unsigned)nout, MSG_DONTWAIT) < 0)
			perror("floor: sendmmsg");
	}
	return 0;
}
