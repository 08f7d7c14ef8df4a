module github.com/timerd/timerd

go 1.26.8
