module github.com/edgetriage/edgetriage

go 1.26.8
