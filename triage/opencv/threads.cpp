#include <opencv2/core/utility.hpp>

#include "threads.h"

void edgetriage_opencv_set_threads(int n) { cv::setNumThreads(n); }

int edgetriage_opencv_threads(void) { return cv::getNumThreads(); }
