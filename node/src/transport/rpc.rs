pub struct RpcClient;
