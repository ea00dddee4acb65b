module github.com/forestream/forestream

go 1.24.0

require (
	github.com/brianvoe/gofakeit/v6 v6.28.0
	github.com/malaschitz/randomForest v0.0.0-20251101172028-7c30b8b21d88
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.41.0
	golang.org/x/time v0.14.0
)

require (
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
)
