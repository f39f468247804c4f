package gateway
import (
 _ "github.com/gobwas/ws"
 _ "github.com/cloudwego/netpoll"
 _ "github.com/redis/rueidis"
 _ "github.com/golang-jwt/jwt/v5"
 _ "github.com/bytedance/sonic"
 _ "github.com/prometheus/client_golang/prometheus"
)

