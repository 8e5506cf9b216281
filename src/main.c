/* main.c: placeholder replaced by the daemon. */
#include "autoconfig.h"
int main(void)
{
	return 0;
}
