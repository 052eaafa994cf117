module github.com/callback-dispatcher/dispatcher

go 1.26
