module todo-airgap/kindnetd

go 1.24
