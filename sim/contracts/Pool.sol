// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

interface IToken {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// A constant-product pool (x * y = k, 0.3% fee) over two tokens. Every swap reads and writes both
/// reserves, so many swaps in one block depend on each other: what parallel prewarm mispredicts.
/// Genesis writes the token addresses and the reserves into slots 0-3.
contract Pool {
    IToken public token0; // slot 0
    IToken public token1; // slot 1
    uint256 public reserve0; // slot 2
    uint256 public reserve1; // slot 3

    event Swap(address indexed sender, bool zeroForOne, uint256 amountIn, uint256 amountOut);

    function swap(bool zeroForOne, uint256 amountIn, uint256 minAmountOut) external returns (uint256 amountOut) {
        (IToken tokenIn, IToken tokenOut, uint256 reserveIn, uint256 reserveOut) =
            zeroForOne ? (token0, token1, reserve0, reserve1) : (token1, token0, reserve1, reserve0);
        uint256 inWithFee = amountIn * 997;
        amountOut = (inWithFee * reserveOut) / (reserveIn * 1000 + inWithFee);
        require(amountOut >= minAmountOut, "slippage");
        require(tokenIn.transferFrom(msg.sender, address(this), amountIn), "pull failed");
        require(tokenOut.transfer(msg.sender, amountOut), "push failed");
        if (zeroForOne) {
            (reserve0, reserve1) = (reserveIn + amountIn, reserveOut - amountOut);
        } else {
            (reserve1, reserve0) = (reserveIn + amountIn, reserveOut - amountOut);
        }
        emit Swap(msg.sender, zeroForOne, amountIn, amountOut);
    }
}
