/* The program Dockerfile.example builds: a static binary for a scratch image. */
#include <stdio.h>

int main(void) {
    puts("Hello from a berth-built scratch image!");
    return 0;
}
