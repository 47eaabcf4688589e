module servebench/bench/toy

go 1.26.8
