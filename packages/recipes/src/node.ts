// The Node entry of @quant-trim/recipes: data that comes from files. Everything else is in the main
// entry, which runs in browsers too.
export {
  type FindIdxFilesOptions,
  findIdxFiles,
  type IdxDirectoryDataset,
  type IdxFileIdentity,
  type IdxFileSet,
  type IdxRole,
  type LoadIdxDirectoryOptions,
  loadIdxDirectory,
  type ReadIdxFileOptions,
  readIdxFile,
} from "./data/idx-files.js";
export {
  loadMnist,
  MNIST_CLASSES,
  MNIST_MEAN,
  MNIST_PIXELS,
  MNIST_SAMPLE_SHAPE,
  MNIST_SIDE,
  MNIST_STD,
  type MnistSplit,
  mnistSplit,
  type SplitDataset,
  standardizedSplit,
} from "./data/mnist.js";
