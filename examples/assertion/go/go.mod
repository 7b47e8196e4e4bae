module github.com/cubeauth/cubeauth/examples/assertion/go

go 1.26.8

require github.com/golang-jwt/jwt/v5 v5.3.1
