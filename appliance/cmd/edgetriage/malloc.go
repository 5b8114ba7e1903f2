package main

// #include <malloc.h>
// #include <stdlib.h>
//
// // glibc fixes its arena limit when the second arena is made, which the
// // Go runtime's threads do before main runs, so the limit has to be set
// // while the program is loaded. MALLOC_ARENA_MAX, when set, still wins.
// __attribute__((constructor)) static void edgetriage_malloc_arenas(void) {
// 	if (getenv("MALLOC_ARENA_MAX") == NULL) mallopt(M_ARENA_MAX, 2);
// }
import "C"
