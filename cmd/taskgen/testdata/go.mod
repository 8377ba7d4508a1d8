module taskgen.test

go 1.24.0

require github.com/taskgen/taskgen v0.0.0

replace github.com/taskgen/taskgen => ../../..
