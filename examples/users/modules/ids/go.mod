module gati.example/ids

go 1.24
