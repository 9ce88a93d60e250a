module github.com/wardchat/ward/interop/mlsgo

go 1.26.0

replace github.com/wardchat/ward => ../..

require github.com/thomas-vilte/mls-go v1.6.0

require (
	github.com/wardchat/ward v0.0.0-00010101000000-000000000000
	golang.org/x/crypto v0.58.0
	golang.org/x/sys v0.49.0 // indirect
)
