module github.com/wardchat/ward/interop/mlsgo

go 1.26.0

replace github.com/wardchat/ward => ../..

require github.com/thomas-vilte/mls-go v1.6.0

require (
	golang.org/x/crypto v0.53.0 // indirect
	golang.org/x/sys v0.46.0 // indirect
)
