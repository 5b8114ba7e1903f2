#ifdef __cplusplus
extern "C" {
#endif

void edgetriage_opencv_set_threads(int n);
int edgetriage_opencv_threads(void);

#ifdef __cplusplus
}
#endif
