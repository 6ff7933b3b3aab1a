"""Where each experiment's claims come from: one bibliography, cited in every report.

Each entry names the original a reader can look up (authors, year, title, venue)
and, where there is one, its address.
"""

from initlab.experiments._base import Source

__all__ = ["SOURCES"]

SOURCES: dict[str, Source] = {
    "fastai-02b": Source(
        citation='J. Howard, fast.ai "Deep Learning from the Foundations" (2019), '
        'course-v3 notebook "02b_initializing.ipynb" (one matrix reused for all 100 layers)',
        url="https://github.com/fastai/course-v3/blob/master/nbs/dl2/02b_initializing.ipynb",
    ),
    "dellinger-2019": Source(
        citation="J. Dellinger (2019), “Weight Initialization in Neural Networks: A Journey "
        "From the Basics to Kaiming”, Towards Data Science (a fresh matrix per layer)",
    ),
    "deeplearning-ai-initialization": Source(
        citation='A. Ng et al., deeplearning.ai / Coursera "Improving Deep Neural Networks: '
        'Hyperparameter Tuning, Regularization and Optimization", week 1 programming '
        'assignment "Initialization" (2017)',
        url="https://www.coursera.org/learn/deep-neural-network",
    ),
    "d2l-symmetry": Source(
        citation="A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, Dive into Deep Learning, "
        "“Numerical Stability and Initialization”, “Breaking the Symmetry”; "
        "I. Goodfellow, Y. Bengio, A. Courville, Deep Learning (2016), §8.4",
        url="https://d2l.ai/chapter_multilayer-perceptrons/numerical-stability-and-init.html",
    ),
    "glorot-2010": Source(
        citation="X. Glorot, Y. Bengio (2010), “Understanding the difficulty of training deep "
        "feedforward neural networks”, AISTATS, PMLR 9:249–256",
        url="https://proceedings.mlr.press/v9/glorot10a.html",
    ),
    "he-2015": Source(
        citation="K. He, X. Zhang, S. Ren, J. Sun (2015), “Delving Deep into Rectifiers: "
        "Surpassing Human-Level Performance on ImageNet Classification”, ICCV, Fig. 3",
        url="https://arxiv.org/abs/1502.01852",
    ),
    "saxe-2013": Source(
        citation="A. M. Saxe, J. L. McClelland, S. Ganguli (2013), “Exact solutions to the "
        "nonlinear dynamics of learning in deep linear neural networks”, ICLR 2014",
        url="https://arxiv.org/abs/1312.6120",
    ),
    "weight-decay": Source(
        citation="A. Krogh, J. A. Hertz (1991), “A Simple Weight Decay Can Improve "
        "Generalization”, NIPS 4; I. Loshchilov, F. Hutter (2019), “Decoupled Weight Decay "
        "Regularization”, ICLR",
        url="https://arxiv.org/abs/1711.05101",
    ),
    "d2l-tied-parameters": Source(
        citation="A. Zhang, Z. C. Lipton, M. Li, A. J. Smola, Dive into Deep Learning, "
        "“Parameter Management”, “Tied Parameters”",
        url="https://d2l.ai/chapter_builders-guide/parameters.html",
    ),
    "fixup-2019": Source(
        citation="H. Zhang, Y. N. Dauphin, T. Ma (2019), “Fixup Initialization: Residual "
        "Learning Without Normalization”, ICLR (Fig. 1, Table 1)",
        url="https://arxiv.org/abs/1901.09321",
    ),
    "lsuv-2016": Source(
        citation="D. Mishkin, J. Matas (2016), “All you need is a good init”, ICLR",
        url="https://arxiv.org/abs/1511.06422",
    ),
    "output-bias-prior": Source(
        citation="A. Karpathy (2019), “A Recipe for Training Neural Networks” (“init well”); "
        "T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollár (2017), “Focal Loss for Dense "
        "Object Detection”, ICCV, §4.1 (prior-probability bias init)",
        url="https://karpathy.github.io/2019/04/25/recipe/",
    ),
    "mup-2022": Source(
        citation="G. Yang, E. J. Hu, I. Babuschkin, S. Sidor, X. Liu, D. Farhi, N. Ryder, "
        "J. Pachocki, W. Chen, J. Gao (2022), “Tensor Programs V: Tuning Large Neural Networks "
        "via Zero-Shot Hyperparameter Transfer”, Fig. 1",
        url="https://arxiv.org/abs/2203.03466",
    ),
}
